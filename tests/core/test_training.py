"""Acceptance of the trainer: each detector trains from scratch on FFHQ-vs-StyleGAN with a tiny config, and
`ffd eval` on the run's held-out test split separates real from fake.

The recipe is the product's (stage 1 trains a compact CLIP backbone on the hierarchical prompts, the detectors then
train on it), shrunk to the `ffd-test-tiny` architecture (64 px, 6 x 48-wide ViT) so the whole module runs in a few
minutes on a 2-core CPU:

1. stage 1, once per session: ``ffd train --detector clip --random-backbone --backbone ffd-test-tiny
   --config '{"train_text": false}'`` (the text tower stays at its random initialisation; trained from scratch with
   the image tower it keeps the loss at chance for 10+ epochs at any learning rate we tried);
2. HAMLET on the frozen stage-1 backbone; MFCLIP on it (its own copy of the visual tower keeps training), with a
   small noise encoder;
3. ``ffd eval DATA --model RUN --json OUT`` (a subprocess, as a user runs it) scores the run's test split.

Every run uses the same data and seed, so all three runs share one split: no test face was seen in stage 1 either,
which the tests check. Thresholds: a from-scratch 64 px model trained for seconds on ~2,900 faces reaches a test AUC
of about 0.76-0.80 (seeds 0 and 1; validation 0.76-0.80); the bar here is 0.7. An AUC of 0.9 is out of reach on
this data from scratch on a CPU (a small CNN trained for 2 minutes on every file reaches about 0.86).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.models import load_model, read_bundle
from tests.conftest import require_data

pytestmark = pytest.mark.slow

ARCH = "ffd-test-tiny"
SEED = 0
MIN_TEST_AUC = 0.7
STAGE1 = ["--epochs", "10", "--patience", "3", "--lr", "2e-3", "--config", json.dumps({"train_text": False})]
DETECTORS = {
    "hamlet": ["--epochs", "5", "--patience", "2"],
    "mfclip": ["--epochs", "5", "--patience", "2",
               "--config", json.dumps({"noise_width": 64, "noise_blocks": 1, "noise_channels": 32})],
}


def ffd(env: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, env=env,
                         timeout=timeout)
    assert run.returncode == 0, f"ffd {' '.join(args[:3])} failed:\n{run.stdout}\n{run.stderr[-3000:]}"
    return run


@pytest.fixture(scope="session")
def data() -> Path:
    return require_data("ffhq_stylegan")


@pytest.fixture(scope="session")
def session_env(tmp_path_factory) -> dict:
    """One app data dir for the whole module, so the face cache is built once for all runs."""
    return {**os.environ, "FFD_DATA_DIR": str(tmp_path_factory.mktemp("ffd-training-data")), "FFD_OFFLINE": "1"}


@pytest.fixture(scope="session")
def stage1(data, session_env, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("train") / "stage1"
    ffd(session_env, "train", str(data), "--detector", "clip", "--random-backbone", "--backbone", ARCH,
        "--aligned", "--seed", str(SEED), "--out", str(run_dir), "--quiet", *STAGE1)
    assert (run_dir / "trained_backbone.safetensors").is_file()
    return run_dir


def _paths(split: dict) -> dict[str, set[str]]:
    return {name: {str(Path(s.path).resolve()) for s in samples} for name, samples in split.items()}


@pytest.mark.parametrize("detector", list(DETECTORS))
def test_detector_trains_and_generalises(detector, data, session_env, stage1, tmp_path):
    from core.training.splits import check_no_leak, load_split

    run_dir = tmp_path / detector
    ffd(session_env, "train", str(data), "--detector", detector, "--aligned", "--seed", str(SEED),
        "--backbone", f"{ARCH}@{stage1 / 'trained_backbone.safetensors'}", "--out", str(run_dir), "--quiet",
        *DETECTORS[detector])

    # The split: three disjoint parts, and the same one stage 1 used (its backbone never saw a test face).
    split = load_split(run_dir / "split.json")
    check_no_leak(split)
    parts = _paths(split)
    assert all(parts[name] for name in ("train", "val", "test"))
    assert not (parts["train"] & parts["val"] or parts["train"] & parts["test"] or parts["val"] & parts["test"])
    assert _paths(load_split(stage1 / "split.json")) == parts

    out = tmp_path / "eval.json"
    ffd(session_env, "eval", str(data), "--model", str(run_dir), "--aligned", "--json", str(out))
    result = json.loads(out.read_text())
    assert result["split"] == "test" and result["files"] == len(parts["test"])
    frame = result["test"][detector]["frame"]
    assert frame["n"] == len(parts["test"]) and 0 < frame["n_fake"] < frame["n"]
    assert frame["auc"] > MIN_TEST_AUC, f"{detector} test AUC {frame['auc']:.3f}"


def test_cli_trains_the_plain_cnn_baseline_with_augmentation(data, session_env, tmp_path):
    run_dir = tmp_path / "cnn"
    ffd(session_env, "train", str(data), "--detector", "cnn", "--random-backbone", "--backbone", ARCH, "--aligned",
        "--augment", "--max-files", "24", "--epochs", "1", "--seed", str(SEED), "--out", str(run_dir), "--quiet")
    bundle = read_bundle(run_dir)
    card = bundle.card
    assert card["training"]["hyperparameters"]["augment"] is True
    assert card["detector"] == "cnn" and 0.0 <= card["metrics"]["test"]["frame"]["auc"] <= 1.0
    model = load_model(bundle, ["cnn"])
    assert {k for k in model.detectors["cnn"].own_state_dict() if "running_mean" in k}  # BatchNorm stats saved
