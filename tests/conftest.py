"""Shared fixtures: the real data in ../shared/data, a tiny CLIP backbone, and an isolated app data dir."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("FFD_OFFLINE", "1")  # tests never touch the network

DATA_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TINY_ARCH = "ffd-test-tiny"


def require_data(*parts: str) -> Path:
    path = DATA_ROOT.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path_factory, monkeypatch):
    """Every test gets its own app data dir: no test reads or writes the user's real case store or weights."""
    monkeypatch.setenv("FFD_DATA_DIR", str(tmp_path_factory.mktemp("ffd-data")))


@pytest.fixture(scope="session")
def data_root() -> Path:
    return require_data()


@pytest.fixture(scope="session")
def ffpp_videos() -> list[Path]:
    root = require_data("ffpp_c23_videos")
    return sorted(root.glob("*/*.mp4"))


def load_face_images(label: str, count: int, size: int, offset: int = 0) -> torch.Tensor:
    """`count` FFHQ (real) or StyleGAN (fake) faces as float RGB in [0, 1], N x 3 x size x size.

    These images are already aligned face crops, so they stand in for the face pipeline's output.
    """
    import cv2

    folder = require_data("ffhq_stylegan", label)
    files = sorted(folder.glob("*.jpg"))[offset:offset + count]
    images = []
    for file in files:
        bgr = cv2.imdecode(np.fromfile(file, dtype=np.uint8), cv2.IMREAD_COLOR)
        rgb = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)[:, :, ::-1]
        images.append(torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255.0)
    return torch.stack(images)


@pytest.fixture(scope="session")
def tiny_backbone():
    from core.backbones import load_backbone

    torch.manual_seed(0)
    return load_backbone(TINY_ARCH, allow_random=True)


def make_tiny_model(root: Path, detectors=("hamlet", "mfclip"), seed: int = 0) -> Path:
    """A real model folder (model.json + safetensors) on the tiny architecture, untrained but complete.

    The random backbone weights are written to a file first, so the folder loads through the same path as a
    shipped model (a random backbone is otherwise refused).
    """
    from core.backbones import load_backbone
    from core.detectors.registry import build_detector
    from core.models import save_model

    torch.manual_seed(seed)
    backbone = load_backbone(TINY_ARCH, allow_random=True)
    save_model(root, "tiny-untrained-test", backbone, {n: build_detector(n, backbone) for n in detectors})
    return root


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def evidence_photo(tmp_path) -> Path:
    """A real FFHQ photo copied into tmp_path/evidence/a.jpg, read-only like an exhibit."""
    import shutil

    folder = tmp_path / "evidence"
    folder.mkdir()
    photo = folder / "a.jpg"
    shutil.copy(sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[0], photo)
    photo.chmod(0o444)
    return photo
