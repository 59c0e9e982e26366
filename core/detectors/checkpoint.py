"""Detector checkpoints: safetensors weights whose header carries a JSON card (detector, config, backbone).

Loading refuses a checkpoint made for another backbone (architecture or weights hash differ), a file whose bytes do
not match the SHA-256 recorded in its sidecar model card, and anything that is not safetensors. Nothing is unpickled.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from core.atomic import atomic_path, atomic_write_text
from core.detectors.card import card_path
from core.detectors.registry import build_detector
from core.digest import sha256_file
from core.errors import ModelError

FORMAT = "ffd-detector/1"


def save_detector(detector, path: str | Path, card: dict | None = None, half: bool = False) -> dict:
    """Write `path` (.safetensors) and `path.json` (model card incl. the weights' SHA-256), both atomically.

    `half` stores floating-point tensors as float16 (half the size on disk; loading casts back to the model's dtype),
    which is how the shipped default model stays small.
    """
    path = Path(path)
    header = {
        "format": FORMAT,
        "detector": detector.name,
        "config": detector.config,
        "backbone": detector.backbone.describe(),
    }
    state = state_for_file(detector.own_state_dict(), half)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"ffd": json.dumps(header)})
    full_card = {**header, **(card or {}), "weights_sha256": sha256_file(path),
                 "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_text(card_path(path), json.dumps(full_card, indent=2))
    return full_card


def state_for_file(state: dict[str, torch.Tensor], half: bool = False) -> dict[str, torch.Tensor]:
    """Tensors ready for safetensors: detached, on the CPU, contiguous; floating point ones as float16 if `half`."""
    out = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    return {k: v.half() if half and v.is_floating_point() else v for k, v in out.items()}


def read_header(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    path = Path(path)
    if not path.is_file():
        raise ModelError("checkpoint not found", path=str(path))
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is not iterable)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"not a readable safetensors checkpoint ({exc})", path=str(path)) from None
    try:
        header = json.loads(meta["ffd"])
    except (KeyError, json.JSONDecodeError):
        raise ModelError("checkpoint has no FFD header (not made by this app)", path=str(path)) from None
    if header.get("format") != FORMAT:
        raise ModelError(f"unsupported checkpoint format {header.get('format')!r}", path=str(path))
    return header, tensors


def load_detector(path: str | Path, backbone, *, device: str | torch.device = "cpu",
                  expected_sha256: str | None = None):
    """Rebuild a detector on `backbone` from a checkpoint, verifying integrity and backbone identity.

    `expected_sha256` is the hash the model folder's model.json pins: checked whether or not the sidecar card is
    there (deleting the sidecar must not switch the check off).
    """
    path = Path(path)
    card_file = card_path(path)
    pins = [("model.json", expected_sha256)] if expected_sha256 else []
    if card_file.exists():
        pins.append(("its model card", json.loads(card_file.read_text()).get("weights_sha256")))
    actual = sha256_file(path) if any(pin for _, pin in pins) and path.is_file() else None
    for where, expected in pins:
        if expected and actual and expected != actual:
            raise ModelError(f"checkpoint bytes do not match the SHA-256 recorded in {where} (sha256 "
                             f"{actual[:12]} != {expected[:12]}): the file was modified or corrupted",
                             path=str(path))
    header, tensors = read_header(path)
    want = header["backbone"]
    if want.get("arch") != backbone.arch or want.get("weights_sha256") != backbone.weights_sha256:
        raise ModelError(
            f"checkpoint was trained on backbone {want.get('arch')} (weights {str(want.get('weights_sha256'))[:12]}) "
            f"but the loaded backbone is {backbone.arch} (weights {str(backbone.weights_sha256)[:12]})",
            path=str(path))
    detector = build_detector(header["detector"], backbone, header["config"])
    own = detector.own_state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    bad_shape = [k for k in tensors if k in own and own[k].shape != tensors[k].shape]
    if missing or unexpected or bad_shape:
        raise ModelError(f"checkpoint tensors do not fit detector {header['detector']} "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]}, shape {bad_shape[:3]})",
                         path=str(path))
    detector.load_state_dict(tensors, strict=False)
    return detector.to(device).eval()
