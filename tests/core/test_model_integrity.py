"""model.json pins every weight file's SHA-256: a swapped checkpoint is refused even without its sidecar card."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch

from core.backbones import load_backbone
from core.detectors.checkpoint import load_detector, save_detector
from core.detectors.registry import build_detector
from core.errors import ModelError
from core.models import load_model, read_bundle
from tests.conftest import require_data


def test_a_swapped_checkpoint_is_refused_with_or_without_its_sidecar(tiny_model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    bundle = read_bundle(model)
    assert all(len(entry["sha256"]) == 64 for entry in bundle.detectors.values())
    load_model(bundle, ["hamlet"])  # intact: loads
    # Another, perfectly valid hamlet checkpoint (other random weights, same backbone) put in its place.
    torch.manual_seed(5)
    save_detector(build_detector("hamlet", load_backbone(bundle.backbone)), model / "hamlet.safetensors")
    (model / "hamlet.json").unlink()                          # the old bypass: no sidecar, no check
    load_detector(model / "hamlet.safetensors", load_backbone(bundle.backbone))  # valid on its own
    with pytest.raises(ModelError, match="recorded in model.json"):
        load_model(read_bundle(model), ["hamlet"])
    video = require_data("ffpp_c23_videos", "real", "004.mp4")
    run = subprocess.run([sys.executable, "-m", "core.cli", "analyze", str(video), "--model", str(model),
                          "--max-frames", "2"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 4, run.stderr
    assert "hamlet.safetensors" in run.stderr and "model.json" in run.stderr and "Traceback" not in run.stderr
