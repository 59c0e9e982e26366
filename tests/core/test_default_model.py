"""The default model shipped in resources/models/default, and the recipe (`make default-model`) that builds it."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from core.detectors.clip_prompts import dct_patch_embedding_
from core.digest import sha256_file
from core.errors import BadInputError
from core.models import load_model, read_bundle
from core.paths import resources_dir
from tests.conftest import load_face_images, require_data

SHIPPED = resources_dir() / "models" / "default"
TOWERS = Path(__file__).resolve().parents[2] / "resources" / "towers"


def _float_dtypes(path: Path) -> set[torch.dtype]:
    with safe_open(str(path), framework="pt") as fh:
        return {fh.get_tensor(k).dtype for k in fh.keys() if fh.get_tensor(k).is_floating_point()}  # noqa: SIM118


def test_shipped_default_is_compact_float16_and_carries_its_metrics():
    from core.training.default_model import ARCH, headline

    bundle = read_bundle(SHIPPED)
    assert bundle.backbone.arch == ARCH and set(bundle.detectors) == {"hamlet", "mfclip"}
    files = sorted(SHIPPED.glob("*.safetensors"))
    assert sum(f.stat().st_size for f in files) <= 60e6
    assert all(_float_dtypes(f) == {torch.float16} for f in files)
    assert hashlib.sha256(Path(bundle.backbone.weights).read_bytes()).hexdigest() == bundle.backbone.sha256
    card = bundle.card
    for name in ("ffpp_faces", "ffhq_stylegan", "sdfd_vs_real"):
        assert card["metrics"][name]["split"] == "test"          # held-out faces only
    assert card["headline"] == headline(card["metrics"])          # the figures are the measured ones
    ffpp = card["metrics"]["ffpp_c23_videos"]
    assert ffpp["files"] == 7
    text = (SHIPPED / "MODEL_CARD.md").read_text()
    for name in ("hamlet", "mfclip"):
        figures = card["headline"][name]
        assert all(f"{v:.4f}" in text for v in figures.values())
        assert f"{figures['ffpp_pooled']:.2f}" in bundle.name
        assert len(ffpp["test"][name]["video_scores"]) == 7
    assert "| plain CNN baseline (cnn) |" in text and card["limitations"] and "Limitations" in text


def test_shipped_default_stores_crops_the_way_its_training_faces_were_stored(tmp_path):
    """crop_jpeg must reproduce the training files' own JPEG: same pixel size, same quantisation tables."""
    import cv2
    from PIL import Image

    from core.faces.align import jpeg_round_trip

    bundle = read_bundle(SHIPPED)
    side, quality = bundle.jpeg
    for folder in (("ffpp_faces", "real"), ("ffpp_faces", "fake", "FaceSwap"), ("ffhq_stylegan", "fake")):
        stored = Image.open(sorted(require_data(*folder).glob("*.jpg"))[0])
        face = np.asarray(stored.convert("RGB"))
        if folder[0] == "ffpp_faces":
            assert stored.size == (side, side)
        ok, ours = cv2.imencode(".jpg", face[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        (tmp_path / "ours.jpg").write_bytes(ours.tobytes())
        assert Image.open(tmp_path / "ours.jpg").quantization == stored.quantization
    # and re-storing an already stored face the same way changes it little: the step is idempotent for them
    again = jpeg_round_trip(face, quality)
    assert np.abs(again.astype(int) - face).mean() < 1.5


def test_analyze_without_a_model_uses_the_default_and_names_it(tmp_path):
    video = require_data("ffpp_c23_videos", "fake", "519_515.mp4")
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, "-m", "core.cli", "analyze", str(video), "--fps", "1", "--json", str(out),
                          "--quiet"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert data["file"]["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    assert data["frames_with_faces"] >= 0.95 * data["sampled_frames"]
    bundle = read_bundle(SHIPPED)
    for name, det in data["detectors"].items():
        assert len(det["identities"]) == 1
        assert det["model"]["name"] == bundle.name and det["model"]["weights_sha256"] == bundle.backbone.sha256
        assert det["model"]["detector"] == name and 0 <= det["video_score"] <= 1


def test_dct_patch_embedding_answers_each_frequency_on_its_own_channel():
    conv = torch.nn.Conv2d(3, 64, 8, 8)
    dct_patch_embedding_(conv)
    flat = conv.weight.flatten(1)
    gram = flat[:63] @ flat[:63].T                     # the first 63 channels: the non-constant luminance bases
    assert torch.allclose(gram - torch.diag(torch.diag(gram)), torch.zeros_like(gram), atol=1e-5)
    flat_patch = torch.ones(1, 3, 8, 8)
    assert conv(flat_patch).abs().max() < 1e-5          # no response to a flat patch (the DC basis is left out)
    ramp = torch.linspace(0, 1, 8).expand(1, 3, 8, 8)   # a horizontal gradient: low frequencies answer most
    response = conv(ramp).abs().flatten()
    assert int(response.argmax()) in (0, 1)


@pytest.mark.slow
def test_recipe_runs_end_to_end_and_ships_one_consistent_folder(tmp_path):
    from core.training.compare import compare_models, format_table
    from core.training.default_model import (
        CARRIED_TOWER,
        STAGES,
        _carried_tower_seconds,
        _provenance,
        build,
        export_tower,
        train_stages,
    )

    out, work = tmp_path / "model", tmp_path / "work"
    arch = "ffd-test-tiny-dct"   # the recipe's own stem type, at test size
    recipe = {"arch": arch, "max_files": 80, "epochs": 1, "frames_per_video": 2, "log": lambda m: None,
              "cache_dir": tmp_path / "cache"}
    with pytest.raises(BadInputError, match="needs the finished 'backbone' stage"):
        train_stages(require_data(), work, only="hamlet", **recipe)
    for stage in ("baseline", "backbone", "refine", "hamlet", "mfclip"):   # one stage per call, as parallel processes run them
        assert stage in train_stages(require_data(), work, only=stage, **recipe)
        assert json.loads((work / stage / "model.json").read_text())["card"]["training"]["finished"]
    assembled = build(require_data(), work, out, measure=False, **recipe)   # a GPU machine without MediaPipe
    assert "metrics" not in assembled and read_bundle(out).card["validation"].keys() == {*STAGES, "baseline"}
    card = build(require_data(), work, out, **recipe)   # every stage done: assembles and measures
    splits = [json.loads((tmp_path / "work" / stage / "split.json").read_text())["splits"]
              for stage in ("backbone", "refine", "hamlet", "mfclip", "baseline")]
    assert all(split == splits[0] for split in splits)
    bundle = read_bundle(out)
    assert bundle.crop_margin == 1.1 and bundle.crop_jpeg == {"side": 299, "quality": 95}
    loaded = load_model(bundle, ["hamlet", "mfclip"])
    assert set(loaded.detectors) == {"hamlet", "mfclip"}
    assert all(_float_dtypes(f) == {torch.float16} for f in out.glob("*.safetensors"))
    ffpp = card["metrics"]["ffpp_faces"]
    assert ffpp["split"] == "test" and {"hamlet", "mfclip", "mean"} <= set(ffpp["test"])
    for result in ffpp["test"].values():
        assert {"frame", "frame_no_sbi", "sbi_frame", "video", "methods"} <= set(result)
    assert {"ffpp_pooled", "sbi_ffpp"} <= set(card["headline"]["hamlet"])
    assert card["metrics"]["ffpp_c23_videos"]["files"] == 7
    assert bundle.name.startswith(f"FFD default ({arch}, trained from scratch; FF++ test AUC ")
    assert "not for casework" in bundle.name     # an untrained tiny model cannot claim more
    # the face-by-face comparison measures each headline figure exactly as the card did (a model against itself)
    table = compare_models(work, out, out, log=lambda m: None, cache_dir=tmp_path / "cache", resamples=50)
    for detector, figures in card["headline"].items():
        assert set(table[detector]) == set(figures)
        for figure, auc in figures.items():
            row = table[detector][figure]
            assert row["a"] == row["b"] == pytest.approx(auc) and row["low"] == row["high"] == 0.0
    assert "| hamlet | ffpp_pooled |" in format_table(table, out, out)
    card_text = (out / "MODEL_CARD.md").read_text()
    assert "| hamlet |" in card_text and "| plain CNN baseline (cnn) |" in card_text
    assert {"ffpp_pooled", "sbi_ffpp"} <= set(card["baseline"]["headline"]["cnn"])
    # a machine holding only the shipped folder continues from its backbone file: stage 1 is not trained again
    spec = f"{arch}@{out / 'backbone.safetensors'}"
    fresh = tmp_path / "continued"
    assert "backbone" not in train_stages(require_data(), fresh, only="refine", from_backbone=spec, **recipe)
    assert not (fresh / "backbone").exists()
    assert read_bundle(fresh / "refine").backbone.sha256 == bundle.backbone.sha256   # it started from that tower
    carried = _provenance(spec)   # what the card of a model built that way records about its stage 1
    assert carried["sha256"] == bundle.backbone.sha256 and set(carried["epoch_seconds"]) >= {"backbone", "refine"}
    trained = card["recipe"]["epoch_seconds"]
    assert _carried_tower_seconds(carried) == {CARRIED_TOWER: round(trained["backbone"] + trained["refine"], 1)}
    # that refine exported to a towers file outside any model folder: a card built on it counts both builds' training
    exported = export_tower(fresh, tmp_path / "towers" / "next.safetensors")
    assert exported["sha256"] == sha256_file(fresh / "refine" / "trained_backbone.safetensors")
    assert exported["started_from"]["sha256"] == bundle.backbone.sha256
    chain = _carried_tower_seconds(_provenance(f"{arch}@{tmp_path / 'towers' / 'next.safetensors'}"))[CARRIED_TOWER]
    assert chain == pytest.approx(trained["backbone"] + trained["refine"] + exported["epoch_seconds"]["refine"], abs=0.2)
    with pytest.raises(BadInputError, match="no finished tower stage"):
        export_tower(fresh, tmp_path / "towers" / "none.safetensors", stage="hamlet")
    # a soup of stage 1's tower and its refine stands in for both: the detectors train on the average
    towers = [f"{arch}@{work / stage / 'trained_backbone.safetensors'}" for stage in ("backbone", "refine")]
    souped = tmp_path / "souped"
    assert set(train_stages(require_data(), souped, only="hamlet", soup=tuple(towers), **recipe)) == {"hamlet"}
    assert read_bundle(souped / "hamlet").backbone.sha256 == sha256_file(souped / "soup" / "backbone.safetensors")
    with pytest.raises(BadInputError, match="was made from other towers"):
        train_stages(require_data(), souped, only="mfclip", soup=tuple(reversed(towers)), **recipe)
    # a finished tower carried as it is: only the detectors train, on that very file
    kept = tmp_path / "kept"
    assert set(train_stages(require_data(), kept, only="hamlet", tower=spec, **recipe)) == {"hamlet"}
    assert read_bundle(kept / "hamlet").backbone.sha256 == bundle.backbone.sha256
    assert not (kept / "backbone").exists() and not (kept / "refine").exists()
    with pytest.raises(BadInputError, match="--tower stands in for stage 'refine'"):
        train_stages(require_data(), kept, only="refine", tower=spec, **recipe)
    kept_card = build(require_data(), kept, tmp_path / "kept-model", baseline=False, measure=False, tower=spec,
                      **recipe)
    assert kept_card["recipe"]["tower"]["sha256"] == bundle.backbone.sha256 and "from_backbone" not in kept_card["recipe"]
    assert read_bundle(tmp_path / "kept-model").backbone.sha256 == bundle.backbone.sha256
    # a tower carried to a larger input trains there on its re-gridded copy
    larger = tmp_path / "larger"
    train_stages(require_data(), larger, only="refine", from_backbone=spec, **{**recipe, "arch": f"{arch}-96"})
    refined = read_bundle(larger / "refine").backbone
    assert refined.arch == f"{arch}-96" and refined.sha256 == sha256_file(larger / "resized" / "backbone.safetensors")


def test_a_carried_tower_is_refused_where_the_work_folder_has_its_own_stage_one(tmp_path):
    from core.training.default_model import train_stages

    (tmp_path / "backbone").mkdir()
    with pytest.raises(BadInputError, match="would get two towers"):
        train_stages(tmp_path, tmp_path, from_backbone="ffd-dct@elsewhere/backbone.safetensors")
    tower = f"ffd-dct@{SHIPPED / 'backbone.safetensors'}"
    with pytest.raises(BadInputError, match="would get two towers"):
        train_stages(tmp_path, tmp_path, soup=(tower, tower))
    (tmp_path / "backbone").rmdir()
    (tmp_path / "refine").mkdir()         # a soup stands in for refine too
    with pytest.raises(BadInputError, match="would get two towers"):
        train_stages(tmp_path, tmp_path, soup=(tower, tower))
    (tmp_path / "refine").rmdir()
    with pytest.raises(BadInputError, match="would get two towers"):
        train_stages(tmp_path, tmp_path, from_backbone=tower, soup=(tower, tower))
    with pytest.raises(BadInputError, match="would get two towers"):
        train_stages(tmp_path, tmp_path, tower=tower, soup=(tower, tower))
    (tmp_path / "refine").mkdir()         # so does a tower carried as it is
    with pytest.raises(BadInputError, match="would get two towers"):
        train_stages(tmp_path, tmp_path, tower=tower)
    (tmp_path / "refine").rmdir()
    with pytest.raises(BadInputError, match="no tower file at elsewhere/b.safetensors"):
        train_stages(tmp_path, tmp_path, soup=(tower, "ffd-dct@elsewhere/b.safetensors"))
    with pytest.raises(BadInputError, match="two or more towers of one architecture"):
        train_stages(tmp_path, tmp_path, soup=(tower,))
    for flag in ("from_backbone", "tower"):     # a carried tower that is not there is named before anything is written
        with pytest.raises(BadInputError, match="no tower file at 'elsewhere/t.safetensors'"):
            train_stages(tmp_path, tmp_path / "fresh", **{flag: "ffd-dct@elsewhere/t.safetensors"})
    assert not (tmp_path / "fresh").exists()
    assert not (tmp_path / "soup").exists()    # nothing averaged


def test_a_soup_is_the_mean_of_its_towers_and_loads_as_a_tower(tmp_path):
    from safetensors.torch import load_file, save_file

    from core.backbones import load_backbone
    from core.errors import ModelError
    from core.training.soup import average_towers

    shipped = load_file(str(SHIPPED / "backbone.safetensors"))
    torch.manual_seed(0)
    shifted = {k: v + 0.01 * torch.randn_like(v.float()).to(v.dtype) if v.is_floating_point() else v + 7
               for k, v in shipped.items()}
    save_file(shifted, str(tmp_path / "shifted.safetensors"))
    soup = average_towers([SHIPPED / "backbone.safetensors", tmp_path / "shifted.safetensors"],
                          tmp_path / "soup.safetensors")
    averaged = load_file(str(soup))
    for key, value in shipped.items():
        assert averaged[key].dtype == value.dtype
        if value.is_floating_point():
            mean = (value.float() + shifted[key].float()) / 2
            assert torch.allclose(averaged[key].float(), mean, atol=2e-3, rtol=2e-3), key
        else:
            assert torch.equal(averaged[key], value), key   # step counts are not averaged
    tower = load_backbone(f"{read_bundle(SHIPPED).backbone.arch}@{soup}")
    faces = load_face_images("real", 2, tower.image_size)
    with torch.no_grad():
        embedding = tower.model.encode_image(faces)
    assert embedding.shape[0] == 2 and torch.isfinite(embedding).all()
    half = {k: v for i, (k, v) in enumerate(shipped.items()) if i % 2}
    save_file(half, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelError, match="different architectures"):
        average_towers([SHIPPED / "backbone.safetensors", tmp_path / "other.safetensors"], tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()
    # a trainer folder's backbone.safetensors is the tower it started from: souping it with that same tower is refused
    from core.training.default_model import train_stages

    stage = tmp_path / "refine"
    stage.mkdir()
    shutil.copyfile(SHIPPED / "backbone.safetensors", stage / "backbone.safetensors")
    (tmp_path / "shifted.safetensors").rename(stage / "trained_backbone.safetensors")
    arch = read_bundle(SHIPPED).backbone.arch
    with pytest.raises(BadInputError, match=r"hold the same weights .*trained_backbone.safetensors beside it"):
        train_stages(require_data(), tmp_path / "work", only="hamlet", max_files=8, epochs=1, frames_per_video=1,
                     log=lambda m: None, cache_dir=tmp_path / "cache",
                     soup=(f"{arch}@{SHIPPED / 'backbone.safetensors'}", f"{arch}@{stage / 'backbone.safetensors'}"))
    assert not (tmp_path / "work").exists()     # refused before anything was written


def test_a_tower_carried_to_another_input_size_keeps_every_weight_but_its_position_grid(tmp_path):
    from safetensors.torch import load_file

    from core.backbones import load_backbone
    from core.errors import ModelError
    from core.training.default_model import _fit_tower
    from core.training.resize import resize_tower

    source = SHIPPED / "backbone.safetensors"
    arch = read_bundle(SHIPPED).backbone.arch
    other = {"ffd-dct": "ffd-dct-256", "ffd-dct-256": "ffd-dct"}[arch]   # the shipped tower at the other size
    tower = f"{arch}@{source}"
    assert _fit_tower(tmp_path, tower, None) == _fit_tower(tmp_path, tower, arch) == tower
    resized = _fit_tower(tmp_path, tower, other)
    assert resized == f"{other}@{tmp_path / 'resized' / 'backbone.safetensors'}"
    before, after = load_file(str(source)), load_file(str(tmp_path / "resized" / "backbone.safetensors"))
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert after[key].dtype == value.dtype
        if key != "visual.positional_embedding":
            assert torch.equal(after[key], value), key
    grid_before, grid_after = before["visual.positional_embedding"], after["visual.positional_embedding"]
    sides = {"ffd-dct": 6, "ffd-dct-256": 8}                      # 192 px and 256 px in 32 px patches
    assert grid_before.shape == (1 + sides[arch] ** 2, 192) and grid_after.shape == (1 + sides[other] ** 2, 192)
    assert torch.equal(grid_after[0], grid_before[0])             # the class token has no place in the grid
    for b, a in zip(*([0, n - 1, n * (n - 1), n * n - 1] for n in (sides[arch], sides[other])), strict=True):
        similarity = torch.nn.functional.cosine_similarity(grid_after[1 + a].float(), grid_before[1 + b].float(), 0)
        assert similarity > 0.8                                   # bicubic keeps each corner's neighbourhood
    backbone = load_backbone(resized)
    faces = load_face_images("real", 2, backbone.image_size)
    with torch.no_grad():
        embedding = backbone.model.encode_image(faces)
    assert backbone.image_size == 32 * sides[other] and embedding.shape == (2, 256) and torch.isfinite(embedding).all()
    with pytest.raises(ModelError, match="do not fit architecture ffd-forensic"):   # another stem is refused
        resize_tower(source, "ffd-forensic", tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()
    altered = tmp_path / "altered.safetensors"
    altered.write_bytes(source.read_bytes()[:-1] + b"\0")
    with pytest.raises(BadInputError, match="was made from other towers"):
        _fit_tower(tmp_path, f"{arch}@{altered}", other)
    # carried as it is, the tower pins the work folder too: its stages must not resume on another tower
    with pytest.raises(BadInputError, match=f"{tmp_path} was made from other towers .*{source.name}"):
        _fit_tower(tmp_path, f"{arch}@{altered}", None)
    assert _fit_tower(tmp_path, tower, None) == tower


def test_a_carried_tower_counts_the_training_of_every_build_in_its_chain():
    """v6 refines v5's tower, which refined v4's stage 1: all three runs made the tower v6 ships."""
    from core.training.default_model import CARRIED_TOWER, _carried_tower_seconds

    first = {"epoch_seconds": {"backbone": 4573.2, "refine": 2434.5, "hamlet": 185.9, "mfclip": 931.5}}
    assert _carried_tower_seconds(first) == {CARRIED_TOWER: 7007.7}
    second = {"epoch_seconds": {CARRIED_TOWER: 7007.7, "refine": 2400.1, "hamlet": 190.0, "mfclip": 900.0}}
    assert _carried_tower_seconds(second) == {CARRIED_TOWER: 9407.8}
    assert _carried_tower_seconds({}) == {}       # a tower from elsewhere, with no card beside it


def test_a_committed_tower_carries_its_chain_of_training_from_the_record_beside_it(tmp_path):
    """resources/towers/ holds no model folder: the record beside each file says what trained it, so a soup or a
    refine carrying it counts the tower it started from and its own stage."""
    from core.training.default_model import CARRIED_TOWER, _carried_tower_seconds, _provenance

    towers = sorted(TOWERS.glob("*.safetensors"))
    assert towers, "resources/towers/ holds the committed towers"
    shipped = _provenance(f"ffd-dct@{SHIPPED / 'backbone.safetensors'}")
    with safe_open(str(SHIPPED / "backbone.safetensors"), framework="pt") as fh:
        tower_keys = set(fh.keys())
    for tower in towers:
        record = json.loads(tower.with_suffix(".json").read_text())
        with safe_open(str(tower), framework="pt") as fh:   # the ffd-dct tower, stored as the shipped one is
            assert set(fh.keys()) == tower_keys
        assert _float_dtypes(tower) == {torch.float16}
        carried = _provenance(f"ffd-dct@{tower}")
        assert carried["sha256"] == sha256_file(tower) == record["sha256"] != record["started_from"]["sha256"]
        own = {k: v for k, v in record["epoch_seconds"].items() if k != CARRIED_TOWER}
        assert own and all(seconds > 0 for seconds in own.values())
        chain = _carried_tower_seconds(carried)[CARRIED_TOWER]
        assert chain == pytest.approx(record["epoch_seconds"][CARRIED_TOWER] + sum(own.values()), abs=0.2)
        if record["started_from"]["sha256"] == shipped["sha256"]:   # refined from the shipped tower: its chain and more
            assert chain > _carried_tower_seconds(shipped)[CARRIED_TOWER]
    stray = tmp_path / "tower.safetensors"
    stray.write_bytes(towers[0].read_bytes())
    (tmp_path / "tower.json").write_text("{not json")
    assert _provenance(f"ffd-dct@{stray}")["epoch_seconds"] == {}   # a broken record is no record
    stray.write_bytes(SHIPPED.joinpath("backbone.safetensors").read_bytes())   # another tower beside that record
    shutil.copyfile(towers[0].with_suffix(".json"), tmp_path / "tower.json")
    assert _provenance(f"ffd-dct@{stray}")["epoch_seconds"] == {}


def test_stage_one_probe_head_trains_beside_the_prompts_and_scores_faces(tiny_backbone):
    from core.detectors.base import Labels
    from core.detectors.registry import build_detector

    faces = torch.cat([load_face_images("real", 4, 64), load_face_images("fake", 4, 64)])
    labels = Labels(fake=torch.tensor([0] * 4 + [1] * 4), method=[None] * 4 + ["stylegan"] * 4)
    plain = build_detector("clip", tiny_backbone)
    probed = build_detector("clip", tiny_backbone, {"probe_weight": 1.0})
    assert plain.probe is None and "probe" not in plain.loss(faces, labels)
    losses = probed.loss(faces, labels)
    assert losses["probe"] > 0 and losses["total"] > losses["probe"] * 0.99
    losses["total"].backward()
    assert probed.probe.weight.grad.abs().sum() > 0
    assert probed.model.visual.conv1.weight.grad is not None          # the tower learns from the head too
    with torch.no_grad():
        out = probed(faces)
        head = torch.softmax(probed.probe(probed.model.encode_image(probed.normalize(faces))), dim=1)[:, 1]
    assert torch.allclose(out.p_fake, head, atol=1e-6)                # p_fake is the head's when there is one


def test_recipe_settings_are_overridden_by_name_and_misspellings_are_refused():
    from core.training.default_model import parse_overrides, stage_config

    overrides = parse_overrides(["sbi_fresh=true", 'augment={"p_jpeg": 0.5}'])
    assert overrides == {"sbi_fresh": True, "augment": {"p_jpeg": 0.5}}
    assert stage_config("refine", "ffd-dct", **overrides).sbi_fresh is True
    with pytest.raises(BadInputError, match="sbi_fersh"):
        parse_overrides(["sbi_fersh=true"])
    with pytest.raises(BadInputError, match="not JSON"):
        parse_overrides(["sbi_fresh=yes"])


def test_measuring_commands_refuse_training_settings_they_would_ignore(tmp_path, capsys):
    from core.training.default_model import main

    training = (["--set", "sbi_fresh=true"], ["--arch", "ffd-dct-256"])
    for measuring, setting in zip((["--eval-only"], ["--measure", str(SHIPPED)], ["--compare", str(SHIPPED), str(SHIPPED)]),
                                  (*training, training[0]), strict=True):
        with pytest.raises(SystemExit) as stopped:
            main([*measuring, "--work", str(tmp_path), *setting])
        assert stopped.value.code == 2
        assert f"{measuring[0]} trains nothing" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []     # refused before anything was written
    # a problem the recipe can explain is one line and its exit code, not a traceback
    assert main(["--train-only", "--work", str(tmp_path / "w"), "--tower", "ffd-dct@elsewhere/t.safetensors"]) == 2
    assert capsys.readouterr().err == ("default-model: error: --tower: no tower file at 'elsewhere/t.safetensors' "
                                       "(expected ARCH@FILE)\n")


def test_a_carried_baseline_must_come_from_the_same_split(tmp_path):
    import shutil

    from core.training.default_model import _carried_baseline, build

    out = tmp_path / "candidate"
    out.mkdir()
    shutil.copyfile(SHIPPED / "split.json", out / "split.json")
    carried = _carried_baseline(SHIPPED, out)
    shipped = read_bundle(SHIPPED)
    assert carried["headline"] == shipped.card["baseline"]["headline"]
    assert str(SHIPPED) in carried["note"] and shipped.backbone.sha256 in carried["note"]
    split = json.loads((out / "split.json").read_text())
    split["splits"]["test"] = split["splits"]["test"][1:]      # one test face fewer: not the same yardstick
    (out / "split.json").write_text(json.dumps(split))
    with pytest.raises(BadInputError, match="another split"):
        _carried_baseline(SHIPPED, out)
    with pytest.raises(BadInputError, match="needs --no-baseline"):
        build(tmp_path, tmp_path / "work", out, baseline_from=SHIPPED)
    assert not (tmp_path / "work").exists()
