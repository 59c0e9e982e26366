"""core.training data half: folder/manifest datasets, leak-free splits, and the on-disk face-crop cache.

Real data from ../shared/data, read in place or copied/symlinked into tmp_path (never into the repo).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.digest import sha256_file
from core.errors import BadInputError, CancelledError, OutputError
from core.media import Sampling, planned_indices, probe
from core.training.dataset import Sample, grouping_keys, read_manifest, scan_folder
from core.training.facecache import CacheSettings, FaceCache
from core.training.splits import check_no_leak, load_split, save_split, split_report, split_samples
from tests.conftest import require_data


def _ffhq(label: str, count: int, offset: int = 0) -> list[Path]:
    return sorted(require_data("ffhq_stylegan", label).glob("*.jpg"))[offset:offset + count]


def _ffpp(name: str) -> Path:
    label = "fake" if "_" in name else "real"
    return require_data("ffpp_c23_videos", label, f"{name}.mp4")


@pytest.fixture()
def dataset_dir(tmp_path: Path) -> Path:
    """real/ (3 FFHQ + an FF++ video in a sub-folder), fake/stylegan/ (3), fake/Deepfakes/ (1 video), noise."""
    root = tmp_path / "data"
    for sub in ("real/ffhq", "real/ffpp", "fake/stylegan", "fake/Deepfakes/c23"):
        (root / sub).mkdir(parents=True)
    for f in _ffhq("real", 3):
        shutil.copy(f, root / "real/ffhq" / f.name)
    for f in _ffhq("fake", 3):
        shutil.copy(f, root / "fake/stylegan" / f.name)
    (root / "real/ffpp/519.mp4").symlink_to(_ffpp("519"))
    (root / "fake/Deepfakes/c23/519_515.mp4").symlink_to(_ffpp("519_515"))
    (root / "real/ffhq/notes.txt").write_text("not media")
    (root / "fake/stylegan/.hidden.jpg").write_bytes(b"ignored")
    (root / "real/ffhq/loop").symlink_to(root / "real")  # a symlink cycle must not hang the scan
    return root


# ----------------------------------------------------------------------------------------------- dataset


def test_scan_folder_labels_methods_and_kinds(dataset_dir: Path):
    samples = scan_folder(dataset_dir)
    assert [s.path for s in samples] == sorted(s.path for s in samples)
    assert len(samples) == 8
    real = [s for s in samples if s.label == 0]
    fake = [s for s in samples if s.label == 1]
    assert len(real) == 4 and len(fake) == 4
    assert all(s.method is None for s in real)  # real/<anything> names mean nothing
    assert sorted(s.method for s in fake) == ["deepfakes", "stylegan", "stylegan", "stylegan"]
    kinds = {Path(s.path).name: s.kind for s in samples}
    assert kinds["519.mp4"] == kinds["519_515.mp4"] == "video"
    assert sum(k == "image" for k in kinds.values()) == 6
    assert all(Path(s.path).is_absolute() and not Path(s.path).name.startswith(".") for s in samples)


def test_scan_folder_errors_name_the_folder(tmp_path: Path):
    with pytest.raises(BadInputError, match="does not exist"):
        scan_folder(tmp_path / "nowhere")
    (tmp_path / "real").mkdir()
    with pytest.raises(BadInputError, match=r"no fake/ sub-folder") as info:
        scan_folder(tmp_path)
    assert info.value.path == str(tmp_path)
    (tmp_path / "FAKE").mkdir()  # case-insensitive
    with pytest.raises(BadInputError, match="holds no image or video"):
        scan_folder(tmp_path)


def test_read_manifest_paths_labels_and_columns(tmp_path: Path, dataset_dir: Path):
    real = _ffhq("real", 1)[0]
    csv = tmp_path / "list.csv"
    csv.write_text(
        "path,label,method,generator,identity,group,extra\n"
        "data/real/ffhq/{r}, real ,,,,,x\n"
        "data/fake/stylegan/{f},FAKE,StyleGAN,stylegan1,,g7,\n"
        "{abs},0,-,-,person-3,,\n"
        "\n"
        "data/fake/Deepfakes/c23/519_515.mp4,1,Deepfakes,,,,\n".format(
            r=_ffhq("real", 1)[0].name, f=_ffhq("fake", 1)[0].name, abs=real)
    )
    samples = read_manifest(csv)
    assert [s.label for s in samples] == [0, 1, 0, 1]
    assert samples[0].path == str(dataset_dir / "real/ffhq" / real.name)
    assert (samples[1].method, samples[1].generator, samples[1].group) == ("stylegan", "stylegan1", "g7")
    assert (samples[2].path, samples[2].identity, samples[2].method) == (str(real), "person-3", None)
    assert samples[3].kind == "video" and samples[3].method == "deepfakes"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{img},maybe", r"row 3: unknown label 'maybe'"),
        ("missing.jpg,fake", r"row 3: file 'missing.jpg' does not exist"),
        ("{img},", r"row 3: unknown label"),
        ("notes.txt,real", r"row 3: 'notes.txt' is not an image or video"),
        ("{img},real", r"row 3: .* listed twice \(first on row 2\)"),
    ],
)
def test_read_manifest_bad_rows_name_file_and_row(tmp_path: Path, row: str, message: str):
    img = _ffhq("real", 1)[0]
    (tmp_path / "notes.txt").write_text("x")
    csv = tmp_path / "bad.csv"
    csv.write_text(f"file,label\n{img},real\n{row.format(img=img)}\n")
    with pytest.raises(BadInputError, match=message) as info:
        read_manifest(csv)
    assert info.value.path == str(csv)


def test_read_manifest_needs_columns_and_a_file(tmp_path: Path):
    csv = tmp_path / "cols.csv"
    csv.write_text("name,class\na.jpg,real\n")
    with pytest.raises(BadInputError, match="'path' \\(or 'file'\\) and 'label' columns"):
        read_manifest(csv)
    with pytest.raises(BadInputError, match="manifest does not exist"):
        read_manifest(tmp_path / "none.csv")


def test_shared_manifests_parse():
    videos = read_manifest(require_data("ffpp_c23_videos", "manifest.csv"))
    assert len(videos) == 7 and all(s.kind == "video" for s in videos)
    assert {s.method for s in videos if s.label} == {"deepfakes", "face2face", "faceswap", "neuraltextures"}
    images = read_manifest(require_data("ffhq_stylegan", "manifest.csv"))
    assert sum(s.label == 0 for s in images) == 2068 and sum(s.label == 1 for s in images) == 2044


def test_grouping_keys_follow_faceforensics_names():
    fake = Sample("/d/fake/519_515.mp4", 1, kind="video")
    assert grouping_keys(fake) == {"identity:519", "identity:515"}
    assert grouping_keys(Sample("/d/real/519.mp4", 0, kind="video")) == {"identity:519"}
    # Digit names of images are not FF++ ids (FFHQ 00519.jpg is nobody's video), nor are non-digit names.
    assert grouping_keys(Sample("/d/real/00519.jpg", 0)) == {"file:/d/real/00519.jpg"}
    assert grouping_keys(Sample("/d/real/clip_a.mp4", 0, kind="video")) == {"file:/d/real/clip_a.mp4"}
    both = Sample("/d/x.jpg", 1, identity="p1", group="shoot2")
    assert grouping_keys(both) == {"identity:p1", "group:shoot2"}


# ------------------------------------------------------------------------------------------------ splits


def _split_of(split: dict, name: str) -> str:
    (where,) = [k for k, items in split.items() if any(Path(s.path).stem == name for s in items)]
    return where


def test_ffpp_manipulations_stay_with_their_sources():
    videos = read_manifest(require_data("ffpp_c23_videos", "manifest.csv"))
    # Two more videos sharing source identity 515 and target 004 chain the components further.
    videos += [Sample("/virtual/real/515.mp4", 0, kind="video"), Sample("/virtual/fake/004_515.mp4", 1,
                                                                          kind="video")]
    for seed in range(12):
        split = split_samples(videos, (0.5, 0.25, 0.25), seed=seed)
        check_no_leak(split)
        assert sorted(s.path for items in split.values() for s in items) == sorted(s.path for s in videos)
        assert _split_of(split, "519") == _split_of(split, "519_515") == _split_of(split, "515")
        assert _split_of(split, "515") == _split_of(split, "004_515") == _split_of(split, "004")
        assert _split_of(split, "004") == _split_of(split, "004_982")
        assert _split_of(split, "634") == _split_of(split, "634_660")
        assert split == split_samples(list(reversed(videos)), (0.5, 0.25, 0.25), seed=seed)


def test_identity_and_group_columns_bind_samples():
    samples = [Sample(f"/p/{i}.jpg", i % 2, identity=f"person{i // 4}") for i in range(40)]
    samples += [Sample(f"/g/{i}.jpg", 1, group="shoot") for i in range(5)]
    split = split_samples(samples, seed=3)
    check_no_leak(split)
    for person in range(10):
        assert len({k for k, items in split.items() for s in items if s.identity == f"person{person}"}) == 1
    assert len({k for k, items in split.items() for s in items if s.group == "shoot"}) == 1


@pytest.fixture(scope="module")
def face_samples() -> list[Sample]:
    """100 FFHQ reals + 100 StyleGAN fakes (paths only; nothing is decoded)."""
    return [Sample(str(p), 0) for p in _ffhq("real", 100)] + [Sample(str(p), 1, method="stylegan")
                                                              for p in _ffhq("fake", 100)]


def test_fractions_respected_per_label_and_deterministic(face_samples):
    split = split_samples(face_samples, seed=7)
    report = split_report(split)
    for name, frac in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
        for label in ("real", "fake"):
            assert abs(report[name][label] - frac * 100) <= 1, (name, label, report[name])
    assert report["all"]["total"] == 200 and report["train"]["methods"] == {"stylegan": report["train"]["fake"]}
    again = split_samples(list(reversed(face_samples)), seed=7)  # input order does not matter
    assert again == split
    other = split_samples(face_samples, seed=8)
    assert other["test"] != split["test"]
    zero_test = split_samples(face_samples, (0.8, 0.2, 0.0), seed=1)
    assert zero_test["test"] == [] and len(zero_test["val"]) == 40


def test_bad_fractions_are_refused(face_samples):
    for bad in [(0.7, 0.2), (0.5, 0.5, 0.5), (1.2, -0.1, -0.1), (float("nan"), 0.5, 0.5)]:
        with pytest.raises(ValueError, match="fractions"):
            split_samples(face_samples, bad)
    with pytest.raises(ValueError, match="more than once"):
        split_samples(face_samples + face_samples[:1])


def test_split_save_load_round_trip_and_moved_data(tmp_path: Path, dataset_dir: Path):
    samples = scan_folder(dataset_dir)
    split = split_samples(samples, (0.5, 0.25, 0.25), seed=0)
    target = tmp_path / "run" / "split.json"
    save_split(split, target, root=dataset_dir, meta={"seed": 0})
    text = target.read_text()
    assert str(dataset_dir) + "/" not in text.replace(f'"root": "{dataset_dir.as_posix()}"', "")
    assert not list(target.parent.glob(".*.tmp"))  # atomic write leaves no temp file
    doc = json.loads(text)
    assert doc["meta"] == {"seed": 0} and doc["report"]["all"]["total"] == 8
    assert load_split(target) == split

    moved = tmp_path / "elsewhere"
    dataset_dir.rename(moved)
    with pytest.raises(BadInputError, match=r"file\(s\) of the split are missing .*pass root="):
        load_split(target)
    reloaded = load_split(target, root=moved)
    assert {k: [Path(s.path).relative_to(moved) for s in v] for k, v in reloaded.items()} == {
        k: [Path(s.path).relative_to(dataset_dir) for s in v] for k, v in split.items()}
    assert {k: [(s.label, s.method, s.kind) for s in v] for k, v in reloaded.items()} == {
        k: [(s.label, s.method, s.kind) for s in v] for k, v in split.items()}


def test_load_split_refuses_a_leaking_or_malformed_file(tmp_path: Path):
    leak = {"train": [Sample("/v/real/519.mp4", 0, kind="video")],
            "val": [], "test": [Sample("/v/fake/519_515.mp4", 1, kind="video")]}
    with pytest.raises(ValueError, match="identity:519 in train and test"):
        save_split(leak, tmp_path / "x.json")
    root = require_data("ffpp_c23_videos")
    doc = {"format": "ffd-split", "version": 1, "root": root.as_posix(), "splits": {
        "train": [{"path": "real/519.mp4", "label": "real", "kind": "video"}],
        "test": [{"path": "fake/519_515.mp4", "label": "fake", "kind": "video"}]}}
    (tmp_path / "leak.json").write_text(json.dumps(doc))  # a hand-edited split
    with pytest.raises(BadInputError, match="leaks across splits: identity:519"):
        load_split(tmp_path / "leak.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(BadInputError, match="not a readable split file"):
        load_split(tmp_path / "junk.json")
    doc["splits"]["train"][0]["label"] = "perhaps"
    (tmp_path / "label.json").write_text(json.dumps(doc))
    with pytest.raises(BadInputError, match="malformed split file"):
        load_split(tmp_path / "label.json")


# -------------------------------------------------------------------------------------------- face cache

VIDEO_SAMPLING = Sampling("count", 4)


@pytest.fixture(scope="module")
def cache_run(tmp_path_factory):
    """One real build: 6 FFHQ stills, one FF++ clip (4 frames), a face-less image, a broken file."""
    tmp = tmp_path_factory.mktemp("facecache")
    noface = tmp / "wall.png"
    ramp = np.tile(np.linspace(40, 200, 256, dtype=np.uint8), (256, 1))
    cv2.imwrite(str(noface), cv2.merge([ramp, ramp.T, np.full_like(ramp, 90)]))
    broken = tmp / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff" + b"\x00" * 64)
    images = [str(p) for p in _ffhq("real", 6)]
    video = str(_ffpp("004"))
    files = images + [video, str(noface), str(broken)]
    cache_dir = tmp / "cache"
    with FaceCache(cache_dir, sampling=VIDEO_SAMPLING) as cache:
        stats = cache.build(files)
        crops = {f: cache.crops(f) for f in files[:-1]}
    return {"dir": cache_dir, "files": files, "images": images, "video": video, "noface": str(noface),
            "broken": str(broken), "stats": stats, "crops": crops, "tmp": tmp}


def test_first_build_extracts_every_face(cache_run):
    stats = cache_run["stats"]
    assert stats.total == 9 and stats.extracted == 8 and stats.cached == 0
    assert stats.detections == 6 + 4 + 1  # one detector call per sampled frame
    assert stats.crops == 6 + 4
    assert stats.no_face == 1 and stats.no_face_paths == [cache_run["noface"]]
    assert stats.bad_input == 1 and stats.bad_inputs[0][0] == cache_run["broken"]
    assert "not a decodable" in stats.bad_inputs[0][1]
    for f in cache_run["images"]:
        crop = cache_run["crops"][f]
        assert crop.shape == (1, 256, 256, 3) and crop.dtype == np.uint8
        assert crop[0, 96:160, 96:160].std() > 10  # the middle of the crop is a face, not black fill
    video = cache_run["crops"][cache_run["video"]]
    assert video.shape == (4, 256, 256, 3)
    assert cache_run["crops"][cache_run["noface"]].shape == (0, 256, 256, 3)


def test_second_build_runs_no_detection_and_returns_identical_crops(cache_run):
    with FaceCache(cache_run["dir"], sampling=VIDEO_SAMPLING) as cache:  # a new instance: only the disk helps
        stats = cache.build(cache_run["files"])
        assert cache.detections_run == 0 and stats.detections == 0
        assert stats.cached == 8 and stats.extracted == 0 and stats.bad_input == 1
        assert stats.no_face_paths == [cache_run["noface"]]
        for f, crops in cache_run["crops"].items():
            assert np.array_equal(cache.crops(f), crops)
        entry = cache.entry(cache_run["video"])
        info = probe(cache_run["video"], with_hash=False)
        assert entry.frames == planned_indices(info, VIDEO_SAMPLING) and entry.identities == [0] * 4
        assert entry.boxes.shape == (4, 4) and (entry.scores > 0.5).all()
        # Keyed by content: the same bytes under another name are a hit.
        twin = cache_run["tmp"] / "renamed.jpg"
        shutil.copy(cache_run["images"][0], twin)
        assert np.array_equal(cache.crops(twin), cache_run["crops"][cache_run["images"][0]])
        assert cache.detections_run == 0
    assert stats.seconds < 2.0


def test_corrupt_entries_are_rebuilt(cache_run, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    shutil.copytree(cache_run["dir"], cache_dir)
    image, video = cache_run["images"][1], cache_run["video"]
    with FaceCache(cache_dir, sampling=VIDEO_SAMPLING) as cache:
        meta_i, npz_i = cache.entry_paths(image)
        meta_v, npz_v = cache.entry_paths(video)
        blob = bytearray(npz_v.read_bytes())
        blob[len(blob) // 2] ^= 0xFF  # one flipped byte inside the crops
        npz_v.write_bytes(bytes(blob))
        meta_i.write_text('{"format": "ffd-facecache", "trunc')  # half-written metadata
        stats = cache.build([image, video])
        assert stats.rebuilt == 2 and stats.extracted == 2 and stats.detections == 1 + 4
        assert np.array_equal(cache.crops(image), cache_run["crops"][image])
        assert np.array_equal(cache.crops(video), cache_run["crops"][video])
        npz_i.unlink()  # crops file gone, metadata still there
        assert np.array_equal(cache.crops(image), cache_run["crops"][image])
        assert cache.detections_run == 6
        assert cache.build([image, video]).cached == 2


def test_entries_stored_deflated_by_earlier_versions_still_read(cache_run, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    shutil.copytree(cache_run["dir"], cache_dir)
    video = cache_run["video"]
    with FaceCache(cache_dir, sampling=VIDEO_SAMPLING) as cache:
        meta_path, npz_path = cache.entry_paths(video)
        np.savez_compressed(npz_path, crops=cache_run["crops"][video])
        meta = json.loads(meta_path.read_text())
        meta["npz_sha256"] = sha256_file(npz_path)
        meta_path.write_text(json.dumps(meta))
        stats = cache.build([video])
        assert stats.cached == 1 and stats.rebuilt == 0 and cache.detections_run == 0
        assert np.array_equal(cache.crops(video), cache_run["crops"][video])


def test_settings_are_part_of_the_key(cache_run, tmp_path: Path):
    image = cache_run["images"][0]
    with FaceCache(cache_run["dir"], sampling=Sampling("count", 2)) as cache:
        assert cache.build([image]).cached == 1  # video sampling does not invalidate still images
    with FaceCache(tmp_path, CacheSettings(crop_size=128)) as cache:
        assert cache.crops(image).shape == (1, 128, 128, 3) and cache.detections_run == 1


def test_assume_aligned_skips_detection(cache_run, tmp_path: Path):
    images = cache_run["images"][:3]
    with FaceCache(tmp_path, assume_aligned=True) as cache:
        stats = cache.build(images)
        assert stats.detections == 0 and stats.crops == 3
        rgb = cv2.cvtColor(cv2.imread(images[0]), cv2.COLOR_BGR2RGB)  # already 256 x 256
        assert np.array_equal(cache.crops(images[0])[0], rgb)
    with FaceCache(tmp_path, assume_aligned=True, crop_size=224) as cache:
        assert cache.crops(images[0]).shape == (1, 224, 224, 3)


def test_faces_stored_as_jpeg_are_cached_at_the_stored_side(tmp_path: Path):
    # the pixels an analysis scores (a 299 px JPEG face), not a resampled copy a self-blend would then be scaled from
    folder = require_data("ffpp_faces", "real")
    image = str(sorted(folder.rglob("*.jpg"))[0])
    assert CacheSettings(jpeg=(299, 95)).crop_size == 299 and CacheSettings().crop_size == 256
    with FaceCache(tmp_path, assume_aligned=True, jpeg=(299, 95)) as cache:
        cache.build([image])
        rgb = cv2.cvtColor(cv2.imread(image), cv2.COLOR_BGR2RGB)
        assert rgb.shape == (299, 299, 3) and np.array_equal(cache.crops(image)[0], rgb)


def test_build_reports_progress_and_cancels(cache_run, tmp_path: Path):
    seen = []
    with FaceCache(cache_run["dir"], sampling=VIDEO_SAMPLING) as cache:
        cache.build(cache_run["images"][:3], progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with FaceCache(tmp_path, sampling=VIDEO_SAMPLING) as cache, pytest.raises(CancelledError):
        cache.build(cache_run["images"], cancel=lambda: True)


def test_a_cancelled_build_keeps_the_entries_it_finished(cache_run, tmp_path: Path):
    images = cache_run["images"]
    done = []
    with FaceCache(tmp_path, assume_aligned=True) as cache, pytest.raises(CancelledError):
        cache.build(images, progress=lambda n, total: done.append(n), cancel=lambda: len(done) >= 2)
    stored = sorted(p.name for p in tmp_path.rglob("*.json"))
    with FaceCache(tmp_path, assume_aligned=True) as cache:
        expected = sorted(cache.entry_paths(f)[0].name for f in images[:2])
        again = cache.build(images[:2])
    assert stored == expected and again.cached == 2 and again.extracted == 0


def test_a_build_that_cannot_write_stops_with_an_output_error(cache_run, tmp_path: Path):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")
    with FaceCache(not_a_folder, assume_aligned=True) as cache, pytest.raises(OutputError, match="cannot write"):
        cache.build(cache_run["images"])


def test_missing_file_raises_bad_input(tmp_path: Path):
    with FaceCache(tmp_path) as cache, pytest.raises(BadInputError, match="does not exist"):
        cache.crops(tmp_path / "gone.jpg")


def _off_lattice(rgb: np.ndarray, table: np.ndarray) -> float:
    """How far a face's 8x8 luminance DCT coefficients lie from multiples of a JPEG quantisation table (mean, in
    steps, over the coarsely quantised frequencies): about 0 for an unaltered decoded JPEG, 0.25 for none."""
    y = rgb.astype(np.float64) @ [0.299, 0.587, 0.114] - 128
    blocks = [cv2.dct(y[i:i + 8, j:j + 8]) / table for i in range(0, y.shape[0] - 7, 8)
              for j in range(0, y.shape[1] - 7, 8)]
    return float(np.mean([np.abs(b - np.round(b))[table >= 5].mean() for b in blocks]))


def test_self_blends_are_stored_like_the_faces_they_come_from(tmp_path: Path):
    """A raw self-blend is the one face whose blended region lacks the JPEG traces every stored face carries;
    with stored_as it goes through the same JPEG as its source (FFHQ: 256 px, quality 95) and carries them too."""
    from PIL import Image

    from core.training.examples import gather

    files = sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[:6]
    table = np.array(Image.open(files[0]).quantization[0], dtype=np.float64).reshape(8, 8)
    samples = [Sample(str(f), 0) for f in files]
    with FaceCache(tmp_path, assume_aligned=True, landmarks=True) as cache:
        cache.build(samples)
        raw = gather(samples, cache, 256, sbi_copies=1, seed=3)
        stored = gather(samples, cache, 256, sbi_copies=1, seed=3, stored_as=(256, 95))
    assert raw.fake.tolist() == stored.fake.tolist() == [0, 1] * len(files)
    assert (raw.crops[0::2] == stored.crops[0::2]).all()             # the real faces are left as they were
    real = [_off_lattice(c, table) for c in raw.crops[0::2].permute(0, 2, 3, 1).numpy()]
    made = [_off_lattice(c, table) for c in raw.crops[1::2].permute(0, 2, 3, 1).numpy()]
    kept = [_off_lattice(c, table) for c in stored.crops[1::2].permute(0, 2, 3, 1).numpy()]
    assert np.mean(np.divide(made, real)) > 1.2                       # raw blends stand out by compression alone
    assert all(k < 1.1 * r for k, r in zip(kept, real, strict=True))  # stored ones do not
    assert (stored.crops[1::2] != raw.crops[1::2]).any()


def test_self_blends_of_face_files_are_stored_as_their_file_not_at_the_cache_side(tmp_path: Path):
    """FFHQ faces are 256 px JPEG files cached at 299 px (the analysis side): a blend stored as a 299 px JPEG would
    carry an 8 px grid aligned to the crop that its real face (a 256 px file up-scaled) lacks, the shortcut the v3b
    build learnt. Stored as its file was (256 px, the file's tables) and then up-scaled, it carries the real's."""
    from PIL import Image

    from core.faces.align import jpeg_round_trip
    from core.training.examples import gather

    files = sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[:6]
    table = np.array(Image.open(files[0]).quantization[0], dtype=np.float64).reshape(8, 8)
    samples = [Sample(str(f), 0) for f in files]
    with FaceCache(tmp_path, assume_aligned=True, landmarks=True, crop_size=299) as cache:
        cache.build(samples)
        raw = gather(samples, cache, 299, sbi_copies=1, seed=3)
        stored = gather(samples, cache, 299, sbi_copies=1, seed=3, stored_as=(299, 95))
    assert (raw.crops[0::2] == stored.crops[0::2]).all()
    faces = stored.crops.permute(0, 2, 3, 1).numpy()
    real = [_off_lattice(c, table) for c in faces[0::2]]
    kept = [_off_lattice(c, table) for c in faces[1::2]]
    at_crop_side = [_off_lattice(jpeg_round_trip(c, 95), table) for c in raw.crops[1::2].permute(0, 2, 3, 1).numpy()]
    # (a blend is smoother than its real where the source was blurred, so it sits a little nearer the lattice)
    assert np.min(np.divide(kept, real)) > 0.6                                          # no grid the real lacks
    assert np.max(np.divide(at_crop_side, real)) < 0.4                                  # the shortcut it avoids
    away = np.abs(faces[1::2, :24, :24].astype(int) - faces[0::2, :24, :24]).mean()    # a corner, off the face
    assert away < 1.0


def test_jittered_windows_keep_the_jpeg_grid_and_centre_on_the_analysis_cut(tmp_path: Path):
    from core.faces.align import centre_offset, fit_face
    from core.training.examples import block_windows, cut_windows, gather

    samples = [Sample(str(f), 0) for f in _ffhq("real", 4)]
    with FaceCache(tmp_path, assume_aligned=True, crop_size=299) as cache:
        cache.build(samples)
        wide = gather(samples, cache, 192 + 2 * 24, fit="centre")
        faces = cache.crops(samples[0])
    size, starts = block_windows(299, 192, 24)
    assert size == 192 and starts == list(range(0, 49, 8))
    base = centre_offset(299, 192 + 2 * 24)
    assert all((base + s - centre_offset(299, 192)) % 8 == 0 for s in starts)       # the analysis cut's grid
    middle = (192, [centre_offset(299, 192) - base])
    centred = cut_windows(wide.crops[:1], middle, np.random.default_rng(0))[0].permute(1, 2, 0).numpy()
    assert np.array_equal(centred, fit_face(faces[0], 192, "centre"))                # no move = the analysis cut
    cuts = cut_windows(wide.crops, (size, starts), np.random.default_rng(1))
    again = cut_windows(wide.crops, (size, starts), np.random.default_rng(1))
    assert cuts.shape == (4, 3, 192, 192) and torch.equal(cuts, again)
    assert len({tuple(c[:, 96, 96].tolist()) for c in cut_windows(wide.crops[:1].expand(12, -1, -1, -1),
                                                                      (size, starts), np.random.default_rng(2))}) > 3


def test_reblend_renews_only_the_self_blends_reproducibly(tmp_path: Path):
    from core.training.examples import gather

    files = sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[:4]
    samples = [Sample(str(f), 0) for f in files]
    with FaceCache(tmp_path, assume_aligned=True, landmarks=True) as cache:
        cache.build(samples)
        first = gather(samples, cache, 128, sbi_copies=1, seed=3, stored_as=(256, 95), keep_blend_sources=True)
        again = gather(samples, cache, 128, sbi_copies=1, seed=3, stored_as=(256, 95), keep_blend_sources=True)
    assert [source.row for source in first.blend_sources] == [1, 3, 5, 7]
    before = first.crops.clone()
    assert first.reblend(np.random.default_rng(9)) == again.reblend(np.random.default_rng(9)) == 4
    assert torch.equal(first.crops, again.crops)                         # same seed, same blends
    assert torch.equal(first.crops[0::2], before[0::2])                  # real faces untouched
    moved = (first.crops[1::2].float() - before[1::2].float()).abs().flatten(1).mean(1)
    assert (moved > 0.1).all()                                            # every blend is a new one
    blend_only = (first.crops[1::2].float() - first.crops[0::2].float()).abs().flatten(1).mean(1)
    assert (blend_only > 0.1).all() and (blend_only < 40).all()           # still a blend of its own face


def test_oversampling_repeats_only_a_small_source_each_copy_its_own_scene(tmp_path: Path):
    from core.training.examples import gather
    from core.training.trainer import TrainConfig, Trainer

    portraits = sorted(require_data("sdfd_faces", "fake").glob("*.jpg"))[:2]
    samples = ([Sample(str(f), 0) for f in _ffhq("real", 2)] + [Sample(str(f), 1, method="stylegan")
               for f in _ffhq("fake", 2)] + [Sample(str(f), 1, method="stablediffusion") for f in portraits])
    with FaceCache(tmp_path, assume_aligned=True, landmarks=True) as cache:
        cache.build(samples)
        examples = gather(samples, cache, 64, sbi_copies=1, stored_as=(256, 95), keep_blend_sources=True)
    more = examples.repeated({"stablediffusion": 3})
    assert len(examples) == 8 and len(more) == 12                       # 2 reals + 2 blends + 4 fakes; +2 x 2 copies
    assert more.methods.count("stablediffusion") == 6 and more.methods.count("stylegan") == 2
    copied = [6, 6, 7, 7]
    assert torch.equal(more.crops[8:], examples.crops[copied]) and torch.equal(more.crops[:8], examples.crops)
    assert more.fake[8:].tolist() == [1, 1, 1, 1] and more.videos[8:] == [examples.videos[i] for i in copied]
    assert len({more.groups[i] for i in (6, 8, 9)}) == 3                 # a copy never shares its original's scene
    assert more.blend_sources == examples.blend_sources                  # blends still renew in place
    assert examples.repeated({"stablediffusion": 1}) is examples
    for wrong, message in [({"sbi": 2}, "other than sbi"), ({"stablediffusion": 0}, "whole counts"),
                           ({"stylegan": 2.5}, "whole counts"), ({"midjourney": 2}, "no training crops of method")]:
        with pytest.raises(BadInputError, match=message):
            examples.repeated(wrong)
    with pytest.raises(BadInputError, match="other than sbi"):           # refused before any data is read
        Trainer(tmp_path / "missing.csv", tmp_path / "run", TrainConfig(oversample={"sbi": 3}))
