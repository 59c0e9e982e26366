"""Trainer mechanics on real faces with the tiny config: determinism, resume after a kill, cancel, model folder."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from core.errors import BadInputError, CancelledError
from core.models import load_model, read_bundle
from core.training.splits import check_no_leak, load_split
from core.training.trainer import TrainConfig, Trainer
from tests.conftest import TINY_ARCH, require_data


def _config(**overrides):
    base = dict(detector="hamlet", backbone=TINY_ARCH, random_backbone=True, epochs=2, batch_size=16,
                max_files=24, aligned=True, patience=10, seed=3)
    return TrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def data():
    return require_data("ffhq_stylegan")


def test_run_folder_is_a_model_with_card_and_leak_free_split(data, tmp_path):
    summary = Trainer(data, tmp_path / "run", _config()).run()
    bundle = read_bundle(tmp_path / "run")
    card = bundle.card
    assert card["training"]["data_sha256"] and card["metrics"]["test"]["frame"]["n"] > 0
    assert 0.0 <= summary["test"]["frame"]["auc"] <= 1.0 and (tmp_path / "run" / "roc_test.png").stat().st_size
    check_no_leak(load_split(tmp_path / "run" / "split.json", root=str(data)))
    model = load_model(bundle, ["hamlet"])
    assert model.detectors["hamlet"].input_size == 64


@pytest.mark.parametrize("detector", ["hamlet", "mfclip"])
def test_a_mirror_run_validates_and_ships_mirror_averaged_scores(detector, data, tmp_path):
    """mirror: training is unchanged, validation and test score each face and its mirror image (HAMLET-FFD through
    its cached frozen features), and the model says so, so evaluate() and the engine score the same way."""
    import shutil

    from core.training.evaluate import evaluate

    plain = Trainer(data, tmp_path / "plain", _config(detector=detector, epochs=1)).run()
    mirror = Trainer(data, tmp_path / "mirror", _config(detector=detector, epochs=1, mirror=True)).run()
    history = [json.loads((tmp_path / run / "history.json").read_text()) for run in ("plain", "mirror")]
    assert history[0][0]["loss"] == history[1][0]["loss"]          # the same training
    assert history[0][0]["val_auc"] != history[1][0]["val_auc"]    # validated on other scores
    assert read_bundle(tmp_path / "mirror").mirror and not read_bundle(tmp_path / "plain").mirror
    shutil.copytree(tmp_path / "mirror", tmp_path / "mirror-off")
    off = read_bundle(tmp_path / "mirror-off")
    off.mirror = False
    off.save()
    scores = {}
    for run in ("mirror", "mirror-off"):
        result = evaluate(data, tmp_path / run, aligned=True, keep_face_scores=True)
        scores[run] = result["test"][detector]["face_scores"]
    assert scores["mirror"] != scores["mirror-off"]
    ours = evaluate(data, tmp_path / "mirror", aligned=True)["test"][detector]["frame"]["auc"]
    assert ours == pytest.approx(mirror["test"]["frame"]["auc"], abs=2e-3)   # the trainer's test = evaluate()'s
    assert plain["test"]["frame"]["auc"] == pytest.approx(
        evaluate(data, tmp_path / "plain", aligned=True)["test"][detector]["frame"]["auc"], abs=2e-3)
    with pytest.raises(BadInputError, match="mirror"):
        Trainer(data, tmp_path / "bad", _config(mirror="yes"))


def test_same_seed_same_training(data, tmp_path):
    a = Trainer(data, tmp_path / "a", _config(epochs=1)).run()
    b = Trainer(data, tmp_path / "b", _config(epochs=1)).run()
    history = [json.loads((tmp_path / run / "history.json").read_text()) for run in ("a", "b")]
    assert history[0][0]["loss"] == history[1][0]["loss"] and a["test"]["frame"] == b["test"]["frame"]


def test_resume_after_kill_continues_from_last_epoch(data, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "FFD_DATA_DIR": os.environ["FFD_DATA_DIR"]}
    cmd = [sys.executable, "-m", "core.cli", "train", str(data), "--detector", "hamlet", "--out", str(run),
           "--backbone", TINY_ARCH, "--random-backbone", "--epochs", "40", "--max-files", "24", "--aligned",
           "--patience", "100", "--seed", "3", "--batch-size", "16", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = run / "trainer_state.json"
    deadline = time.time() + 240
    while time.time() < deadline and (not state.exists() or json.loads(state.read_text())["epoch"] < 2):
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(state.read_text())["epoch"]
    assert 2 <= killed_at < 40
    summary = Trainer(data, run, _config(epochs=killed_at + 2)).run()
    epochs = [h["epoch"] for h in json.loads((run / "history.json").read_text())]
    assert epochs == list(range(1, killed_at + 3))  # picked up right after the last saved epoch, no repeats
    assert summary["epochs_run"] == killed_at + 2


def test_resume_keeps_the_random_backbone_it_started_with(data, tmp_path):
    """A from-scratch run resumed with no further improvement still evaluates its best epoch on its own backbone."""
    run = tmp_path / "run"
    Trainer(data, run, _config(epochs=1)).run()
    first = read_bundle(run).backbone.sha256
    summary = Trainer(data, run, _config(epochs=1)).run()  # nothing left to train: straight to the test stage
    assert read_bundle(run).backbone.sha256 == first and summary["epochs_run"] == 1


def test_cancel_leaves_a_usable_checkpoint(data, tmp_path):
    run = tmp_path / "run"
    seen_epochs = []

    def progress(p):
        if p.stage == "validating":
            seen_epochs.append(p.epoch)

    with pytest.raises(CancelledError):
        Trainer(data, run, _config(epochs=5), progress=progress, cancel=lambda: len(seen_epochs) >= 1).run()
    assert json.loads((run / "trainer_state.json").read_text())["epoch"] == 1
    model = load_model(read_bundle(run), ["hamlet"])  # the best-so-far model folder loads and runs
    import torch

    with torch.no_grad():
        out = model.detectors["hamlet"](torch.rand(2, 3, 64, 64))
    assert out.p_fake.shape == (2,)


def test_stage_one_trains_on_jittered_windows_of_stored_faces(data, tmp_path):
    """crop_jitter: the full-training (clip) stage cuts a fresh block-aligned window per face; the model records
    the centre cut it is analysed with."""
    config = _config(detector="clip", epochs=1, max_files=12, crop_jpeg=(96, 95), crop_fit="centre", crop_jitter=8)
    summary = Trainer(data, tmp_path / "run", config).run()
    bundle = read_bundle(tmp_path / "run")
    assert bundle.crop_jpeg == {"side": 96, "quality": 95, "fit": "centre"}
    assert 0.0 <= summary["test"]["frame"]["auc"] <= 1.0
    with pytest.raises(Exception, match="crop_jitter 24 needs stored faces of at least 112 px"):
        Trainer(data, tmp_path / "too-far", _config(detector="clip", epochs=1, max_files=12, crop_jpeg=(96, 95),
                                                      crop_fit="centre", crop_jitter=24)).run()


def test_fused_adamw_takes_the_default_steps_and_resumes_an_unfused_run(tiny_model_dir, tmp_path):
    """The trainer's fused AdamW follows torch's default per-tensor AdamW on a real model's weights, and a run
    whose state was saved by the default optimizer (before the change) resumes fused, continuing the same steps."""
    import torch

    from core.training.state import load_state, save_state
    from core.training.trainer import adamw

    def detector():
        return load_model(read_bundle(tiny_model_dir), ["hamlet"]).detectors["hamlet"].float()

    def steps(det, opt, seeds):
        for seed in seeds:
            rng = torch.Generator().manual_seed(seed)
            for p in det.trainable_parameters():
                p.grad = torch.randn(p.shape, generator=rng)
            opt.step()

    def weights(det):
        return [p.detach().clone() for p in det.trainable_parameters()]

    def schedule(opt):
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)

    fast, slow = detector(), detector()
    start = weights(fast)
    fused = adamw(fast.trainable_parameters(), 1e-3, 0.05)
    default = torch.optim.AdamW(slow.trainable_parameters(), lr=1e-3, weight_decay=0.05)
    assert fused.defaults["fused"] and not default.defaults["fused"]
    steps(fast, fused, [0, 1])
    steps(slow, default, [0, 1])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(weights(fast), weights(slow), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(weights(fast), start, strict=True))   # the weights moved

    save_state(tmp_path, slow, default, schedule(default), {"epoch": 1})     # a run saved by the default optimizer
    resumed = detector()
    optimizer = adamw(resumed.trainable_parameters(), 1e-3, 0.05)
    load_state(tmp_path, resumed, optimizer, schedule(optimizer))
    assert optimizer.param_groups[0]["fused"]
    steps(resumed, optimizer, [2, 3])
    steps(slow, default, [2, 3])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(weights(resumed), weights(slow), strict=True))
