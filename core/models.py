"""Model bundles: one backbone plus the detector checkpoints trained on it, described by `model.json`.

A trainer run directory, the default model shipped in resources/, and a model a user installs all share this
layout, so `ffd analyze --model DIR`, the GUI and the trainer's "use this model" speak the same language.

    model.json   {"format": "ffd-model/1", "name": ..., "backbone": {"arch", "weights" | "pretrained", "sha256"},
                  "detectors": {"hamlet": {"checkpoint": "hamlet.safetensors", "sha256": ..., "threshold": 0.5},
                                ...},
                  "crop_margin": 1.3, "card": {...}}

Every weight file's SHA-256 is pinned in model.json (backbone and detectors) and verified on load.
`crop_margin` is the face-crop side in units of the face detector's box (``core.faces.align_crop``): a detector
scores faces cut the way its training faces were cut, so the model says how, and the engine cuts accordingly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.atomic import atomic_write_text
from core.backbones import Backbone, BackboneSpec, load_backbone
from core.backbones.backbone import cached_sha256
from core.detectors.checkpoint import load_detector, state_for_file
from core.errors import ModelError
from core.paths import data_dir, resources_dir

FORMAT = "ffd-model/1"
DEFAULT_THRESHOLD = 0.5
DEFAULT_CROP_MARGIN = 1.3   # DeepfakeBench's convention, and what every model before crop_margin was trained on


@dataclass
class ModelBundle:
    root: Path
    name: str
    backbone: BackboneSpec
    detectors: dict[str, dict]          # name -> {"checkpoint": path relative to root, "threshold": float}
    card: dict = field(default_factory=dict)
    crop_margin: float = DEFAULT_CROP_MARGIN

    def checkpoint(self, detector: str) -> Path:
        if detector not in self.detectors:
            raise ModelError(f"model {self.name!r} has no {detector} detector "
                             f"(it has: {', '.join(self.detectors) or 'none'})", path=str(self.root))
        return self.root / self.detectors[detector]["checkpoint"]

    def threshold(self, detector: str) -> float:
        return float(self.detectors.get(detector, {}).get("threshold", DEFAULT_THRESHOLD))

    def to_dict(self) -> dict:
        backbone = {k: v for k, v in self.backbone.to_dict().items() if v is not None}
        if self.backbone.weights:
            backbone["weights"] = os.path.relpath(self.backbone.weights, self.root)
        return {"format": FORMAT, "name": self.name, "backbone": backbone, "detectors": self.detectors,
                "crop_margin": self.crop_margin, "card": self.card}

    def save(self) -> None:
        atomic_write_text(self.root / "model.json", json.dumps(self.to_dict(), indent=2))


def read_bundle(path: str | Path) -> ModelBundle:
    root = Path(path)
    manifest = root / "model.json" if root.is_dir() else root
    root = manifest.parent
    if not manifest.is_file():
        raise ModelError("not a model folder (model.json missing)", path=str(root))
    try:
        data = json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"model.json is not valid JSON ({exc})", path=str(manifest)) from None
    if data.get("format") != FORMAT:
        raise ModelError(f"unsupported model format {data.get('format')!r}", path=str(manifest))
    bb = dict(data["backbone"])
    if bb.get("weights"):
        bb["weights"] = str(root / bb["weights"])
    margin = data.get("crop_margin", DEFAULT_CROP_MARGIN)
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 1.0 <= margin <= 3.0:
        raise ModelError(f"crop_margin must be a number from 1 to 3, got {margin!r}", path=str(manifest))
    return ModelBundle(root=root, name=data.get("name", root.name), backbone=BackboneSpec(**bb),
                       detectors=data.get("detectors", {}), card=data.get("card", {}), crop_margin=float(margin))


def default_model_dir() -> Path | None:
    """The model to use when none is named: the user's choice (settings), else the one shipped in resources/."""
    chosen = data_dir() / "default_model.txt"
    if chosen.is_file():
        path = Path(chosen.read_text().strip())
        if (path / "model.json").is_file():
            return path
    shipped = resources_dir() / "models" / "default"
    return shipped if (shipped / "model.json").is_file() else None


def set_default_model(path: str | Path) -> None:
    read_bundle(path)  # validate before remembering it
    atomic_write_text(data_dir() / "default_model.txt", str(Path(path).resolve()))


def resolve_bundle(path: str | Path | None) -> ModelBundle:
    if path is not None:
        return read_bundle(path)
    found = default_model_dir()
    if found is None:
        raise ModelError("no detection model is installed: pass --model DIR (a trained model folder), "
                         "or train one with `ffd train`")
    return read_bundle(found)


@dataclass
class LoadedModel:
    """A bundle made ready: the backbone and the requested detectors, on one device."""

    bundle: ModelBundle
    backbone: Backbone
    detectors: dict[str, torch.nn.Module]

    def describe(self, detector: str) -> dict:
        path = self.bundle.checkpoint(detector)
        return {"name": self.bundle.name, "detector": detector, "arch": self.backbone.arch,
                "weights_sha256": self.backbone.weights_sha256, "detector_sha256": cached_sha256(str(path)),
                "threshold": self.bundle.threshold(detector), "crop_margin": self.bundle.crop_margin}


def load_model(bundle: ModelBundle, detectors: list[str], device: str | torch.device = "cpu",
               backbone: Backbone | None = None) -> LoadedModel:
    backbone = backbone or load_backbone(bundle.backbone, device=device)
    loaded = {name: load_detector(bundle.checkpoint(name), backbone, device=device,
                                  expected_sha256=bundle.detectors[name].get("sha256")) for name in detectors}
    return LoadedModel(bundle=bundle, backbone=backbone, detectors=loaded)


def save_model(root: str | Path, name: str, backbone: Backbone, detectors: dict[str, torch.nn.Module],
               thresholds: dict[str, float] | None = None, card: dict | None = None, half: bool = False,
               crop_margin: float = DEFAULT_CROP_MARGIN) -> ModelBundle:
    """Write a complete model folder (atomically per file).

    The backbone is referenced by its open_clip pretrained tag, or its weights file is copied in byte for byte (so
    its SHA-256, which the detector checkpoints record, stays the same). A backbone that only exists in memory
    (trained here) is written as safetensors and from then on identified by that file's hash. `half` stores the
    detectors' (and such a backbone's) floating-point weights as float16.
    """
    import shutil

    from safetensors.torch import save_file

    from core.atomic import atomic_path
    from core.detectors.checkpoint import save_detector

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if backbone.spec.pretrained:
        spec = BackboneSpec(arch=backbone.arch, pretrained=backbone.spec.pretrained, sha256=backbone.weights_sha256)
    else:
        source = Path(backbone.spec.weights) if backbone.spec.weights else None
        target = root / ("backbone" + (source.suffix if source else ".safetensors"))
        already_there = target.exists() and source is not None and (
            source.resolve() == target.resolve() or cached_sha256(str(target)) == cached_sha256(str(source)))
        if source is not None and not already_there:
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
        elif source is None:
            with atomic_path(target) as tmp:
                save_file(state_for_file(backbone.model.state_dict(), half), str(tmp))
            backbone.weights_sha256 = cached_sha256(str(target))
            backbone.source = f"file:{target}"
        spec = BackboneSpec(arch=backbone.arch, weights=str(target), sha256=cached_sha256(str(target)))
    entries = {}
    for det_name, detector in detectors.items():
        saved = save_detector(detector, root / f"{det_name}.safetensors", half=half)
        entries[det_name] = {"checkpoint": f"{det_name}.safetensors", "sha256": saved["weights_sha256"],
                             "threshold": float((thresholds or {}).get(det_name, DEFAULT_THRESHOLD))}
    bundle = ModelBundle(root=root, name=name, backbone=spec, detectors=entries, card=card or {},
                         crop_margin=crop_margin)
    bundle.save()
    return bundle
