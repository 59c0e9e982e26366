"""The default model's data: pinned splits, the combined manifest over ../shared/data, training augmentation."""

from __future__ import annotations

import csv
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import BadInputError
from core.paths import resources_dir
from core.training.augment import AugmentConfig, augment_batch, centre_sharpness, match_sharpness
from core.training.dataset import Sample, read_manifest
from core.training.default_data import default_rows, write_manifest
from core.training.splits import check_no_leak, split_samples
from core.training.trainer import TrainConfig, Trainer
from tests.conftest import load_face_images, require_data


def _pinned(n: int, split: str | None, label: int, tag: str) -> list[Sample]:
    return [Sample(f"/data/{tag}{i}.jpg", label, split=split) for i in range(n)]


def test_pinned_test_samples_stay_in_test_and_train_samples_never_reach_it():
    samples = (_pinned(20, "test", 0, "t") + _pinned(20, "test", 1, "tf") + _pinned(80, "train", 0, "r")
               + _pinned(80, "train", 1, "rf") + _pinned(50, None, 0, "n") + _pinned(50, None, 1, "nf"))
    split = split_samples(samples, (0.7, 0.15, 0.15), seed=3)
    by_path = {s.path: name for name, items in split.items() for s in items}
    assert all(by_path[s.path] == "test" for s in samples if s.split == "test")
    assert all(by_path[s.path] in ("train", "val") for s in samples if s.split == "train")
    assert any(by_path[s.path] == "val" for s in samples if s.split == "train")  # validation is carved out
    assert sum(len(v) for v in split.values()) == len(samples)


def test_a_test_pin_tied_to_a_train_pin_is_refused():
    a = Sample("/d/a.jpg", 0, identity="p1", split="test")
    b = Sample("/d/b.jpg", 1, identity="p1", split="train")
    with pytest.raises(ValueError, match="pinned to different splits"):
        split_samples([a, b, Sample("/d/c.jpg", 0), Sample("/d/d.jpg", 1)])


def test_manifest_split_column(tmp_path: Path):
    img = sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[:2]
    good = tmp_path / "m.csv"
    good.write_text(f"path,label,split\n{img[0]},real,TEST\n{img[1]},real,-\n")
    assert [s.split for s in read_manifest(good)] == ["test", None]
    bad = tmp_path / "bad.csv"
    bad.write_text(f"path,label,split\n{img[0]},real,holdout\n")
    with pytest.raises(BadInputError, match="row 2: split must be train, val or test"):
        read_manifest(bad)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return default_rows(require_data())


def test_default_manifest_keeps_the_authors_ffpp_split_and_the_first_models_ffhq_split(rows):
    ffpp = [r for r in rows if r["source"] == "ffpp_faces"]
    authors = {str(Path(require_data("ffpp_faces")) / r["file"]): r["split"]
               for r in csv.DictReader(require_data("ffpp_faces", "manifest.csv").open())}
    assert len(ffpp) == len(authors) == 6050
    assert all(authors[r["path"]] == r["split"] for r in ffpp)
    assert {r["method"] for r in ffpp if r["label"] == "fake"} == {"deepfakes", "face2face", "faceswap",
                                                                  "neuraltextures"}
    ffhq_test = {Path(r["path"]).name for r in rows if r["source"] == "ffhq_stylegan" and r["split"] == "test"}
    assert len(ffhq_test) == 616
    v1 = resources_dir() / "models" / "default" / "split.json"
    shipped = json.loads(v1.read_text())["splits"]["test"]
    shipped_ffhq = {Path(e["path"]).name for e in shipped if "ffpp_faces" not in e["path"]
                    and "sdfd" not in e["path"]}
    assert ffhq_test == shipped_ffhq   # the same held-out files the first default model was measured on
    sdfd = [r for r in rows if r["source"] == "sdfd_faces"]
    assert len(sdfd) == 200 and {r["method"] for r in sdfd} == {"stablediffusion"}


def test_default_manifest_splits_without_leaks_and_can_leave_a_method_out(rows, tmp_path):
    out = write_manifest(require_data(), tmp_path / "data.csv", exclude=("faceswap",))
    samples = read_manifest(out)
    split = split_samples(samples, (0.78, 0.12, 0.10), seed=0)
    check_no_leak(split)
    assert not any(s.method == "faceswap" for part in ("train", "val") for s in split[part])
    assert sum(s.method == "faceswap" for s in split["test"]) == 106   # kept for the leave-one-out score
    assert len(samples) == len(rows) - sum(r["method"] == "faceswap" and r["split"] != "test" for r in rows)


def test_augmentation_is_reproducible_changes_pixels_and_keeps_shape():
    faces = (load_face_images("real", 8, 96) * 255).round().to(torch.uint8)
    a = augment_batch(faces, np.random.default_rng(5))
    b = augment_batch(faces, np.random.default_rng(5))
    c = augment_batch(faces, np.random.default_rng(6))
    with ThreadPoolExecutor(3) as pool:   # spread over threads: the same images
        d = augment_batch(faces, np.random.default_rng(5), pool=pool)
    assert a.shape == faces.shape and a.dtype == torch.uint8
    assert torch.equal(a, b) and torch.equal(a, d) and not torch.equal(a, c)
    changed = (a.float() - faces.float()).abs().flatten(1).mean(1)
    assert (changed > 0.5).sum() >= 3   # many faces are degraded somehow (colour alone has p = 0.5)


def test_training_config_sets_augmentation_strengths_and_refuses_misspelt_ones(tmp_path):
    faces = (load_face_images("real", 6, 96) * 255).round().to(torch.uint8)
    off = {"p_zoom": 0.0, "p_colour": 0.0, "p_quality": 0.0, "p_jpeg": 0.0}
    assert TrainConfig(augment=False).augmentation() is None
    assert TrainConfig(augment=True).augmentation() == AugmentConfig() == TrainConfig(augment={}).augmentation()
    untouched = augment_batch(faces, np.random.default_rng(0), TrainConfig(augment=off).augmentation())
    assert torch.equal(untouched, faces)
    # every face blurred, sharpened or resampled: the strength given is the one applied
    degraded = augment_batch(faces, np.random.default_rng(0),
                             TrainConfig(augment={**off, "p_quality": 1.0}).augmentation())
    changed = (degraded.float() - faces.float()).abs().flatten(1).mean(1)
    assert (changed > 0).all() and (changed > 0.2).sum() >= 5   # a Gaussian blur of sigma 0.3 barely shows
    with pytest.raises(BadInputError, match="p_qualty"):
        Trainer(tmp_path / "data.csv", tmp_path / "run", TrainConfig(augment={"p_qualty": 0.5}))
    with pytest.raises(BadInputError, match="crop_fit"):   # a centre cut needs the stored side the model records
        Trainer(tmp_path / "data.csv", tmp_path / "run", TrainConfig(crop_fit="centre"))
    with pytest.raises(BadInputError, match="crop_fit"):
        Trainer(tmp_path / "data.csv", tmp_path / "run", TrainConfig(crop_jpeg=(299, 95), crop_fit="middle"))
    for jitter, fit in ((12, "centre"), (-8, "centre"), (16, "resize")):   # whole blocks, around a centre cut
        with pytest.raises(BadInputError, match="crop_jitter"):
            Trainer(tmp_path / "data.csv", tmp_path / "run",
                    TrainConfig(crop_jpeg=(299, 95), crop_fit=fit, crop_jitter=jitter))


def test_sharpness_matching_moves_real_faces_to_the_target_both_ways():
    faces = (load_face_images("real", 6, 192) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for face in faces:
        before = centre_sharpness(face)
        for target in (before / 3, before * 3):
            after = centre_sharpness(match_sharpness(np.ascontiguousarray(face), target))
            assert abs(np.log(after / target)) < 0.25, (before, target, after)   # within ~25 % of the target
    # the target comes from the configured range, whatever the face was: sharpness stops tracking the label
    off = {"p_zoom": 0.0, "p_colour": 0.0, "p_quality": 0.0, "p_jpeg": 0.0, "p_sharpness": 1.0, "sharpness": (15, 30)}
    matched = augment_batch(torch.from_numpy(faces).permute(0, 3, 1, 2), np.random.default_rng(0),
                            AugmentConfig(**off)).permute(0, 2, 3, 1).numpy()
    assert all(12 < centre_sharpness(np.ascontiguousarray(m)) < 38 for m in matched)


def test_ffpp_fakes_share_a_group_with_the_real_crops_of_their_scene(rows, tmp_path):
    """A fake and its target's real crop (same background, different face) are found by their borders and grouped;
    groups never cross the authors' split, so the split stays valid and validation holds no trained-on scene."""
    ffpp = [r for r in rows if r["source"] == "ffpp_faces"]
    groups: dict[str, set[str]] = {}
    for r in ffpp:
        groups.setdefault(r["group"], set()).add(r["label"])
    assert all(r["group"].startswith(f"ffpp-{r['split']}-") for r in ffpp)
    mixed = sum(labels == {"real", "fake"} for labels in groups.values())
    assert mixed >= 700                                         # most scenes pair real and fake crops
    assert max(sum(r["group"] == g for r in ffpp) for g in list(groups)[:200]) <= 20   # no runaway chains
    samples = read_manifest(write_manifest(require_data(), tmp_path / "data.csv"))
    check_no_leak(split_samples(samples, (0.78, 0.12, 0.10), seed=0))   # grouping keys cover the scenes


def test_a_fake_crop_matches_its_own_real_scene_not_a_random_one():
    from core.training.scenes import border_signature, scene_groups

    folder = require_data("ffpp_faces")
    pairs = [r for r in csv.DictReader((folder / "manifest.csv").open()) if r["split"] == "test"]
    paths = [str(folder / r["file"]) for r in pairs]
    sig = np.stack([border_signature(p) for p in paths])
    similar = sig @ sig.T
    np.fill_diagonal(similar, -1)
    fake = np.array([r["label"] == "fake" for r in pairs])
    best_real = similar[fake][:, ~fake].max(axis=1)
    assert np.median(best_real) > 0.9                      # a real crop of the same scene exists for most fakes
    assert np.median(similar[~fake][:, ~fake]) < 0.6       # unrelated real scenes do not correlate
    numbers = scene_groups(paths)
    assert len(numbers) == len(paths) and numbers[0] == 0 and 1 < len(set(numbers)) < len(paths)


def test_grouped_order_keeps_each_scene_together_and_is_a_permutation():
    from core.training.examples import Examples

    groups = ["a", "b", "a", "c", "b", "a", "d"]
    ex = Examples(torch.zeros(7, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 0, 1, 1, 1, 1, 0]),
                  [None] * 7, [str(i) for i in range(7)], groups)
    order = ex.grouped_order(torch.Generator().manual_seed(1)).tolist()
    assert sorted(order) == list(range(7))
    seen = [groups[i] for i in order]
    runs = [g for k, g in enumerate(seen) if k == 0 or seen[k - 1] != g]
    assert len(runs) == len(set(groups))                   # every scene forms one contiguous run
    assert ex.grouped_order(torch.Generator().manual_seed(1)).tolist() == order


def test_border_signatures_are_kept_per_file_version(tmp_path):
    """The recipe rewrites its manifest at every stage: a crop is decoded once per process, again when it changes."""
    import shutil

    from core.training.scenes import border_signature

    crops = sorted(require_data("ffpp_faces", "real").glob("*.jpg"))[:2]
    crop = tmp_path / "crop.jpg"
    shutil.copy(crops[0], crop)
    first = border_signature(str(crop))
    assert border_signature(str(crop)) is first and not first.flags.writeable
    shutil.copy(crops[1], crop)                            # another file at the same path: a new signature
    os.utime(crop, ns=(crop.stat().st_atime_ns, crop.stat().st_mtime_ns + 10**9))   # even within one clock tick
    second = border_signature(str(crop))
    assert second is not first and not np.allclose(second, first)
    assert np.array_equal(second, border_signature(str(crops[1])))
    crop.unlink()
    with pytest.raises(BadInputError, match="cannot read this image"):
        border_signature(str(crop))
