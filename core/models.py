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
`crop_jpeg` (optional, ``{"side": 299, "quality": 95}``) says its training faces were stored as JPEG: crops are
then passed through JPEG the same way before scoring (``core.faces.align_crop``); its optional ``"fit": "centre"``
says the model reads the stored face's middle pixels unresized (default ``"resize"``).
`mirror` (optional, default false) says each face is scored as it is and as its mirror image, and the two averaged
(``core.detectors.base.score_faces``): a setting of the model, since its thresholds were chosen on scores made so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.atomic import atomic_write_text
from core.backbones.spec import BackboneSpec
from core.detectors.card import card_path
from core.digest import cached_sha256
from core.errors import ModelError
from core.faces.align import FITS
from core.paths import data_dir, resources_dir

if TYPE_CHECKING:   # reading and checking a model folder imports no torch: `ffd analyze` names a broken one at once
    import torch

    from core.backbones import Backbone

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
    crop_jpeg: dict | None = None       # {"side": px, "quality": 1-100}: training faces were stored as JPEG
    mirror: bool = False                # scores average each face and its mirror image (thresholds chosen so)

    @property
    def jpeg(self) -> tuple[int, int] | None:
        """``crop_jpeg`` as ``align_crop`` takes it."""
        return (self.crop_jpeg["side"], self.crop_jpeg["quality"]) if self.crop_jpeg else None

    @property
    def fit(self) -> str:
        """How a stored face becomes the detector's input (``core.faces.align.fit_face``)."""
        return (self.crop_jpeg or {}).get("fit", "resize")

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
        data = {"format": FORMAT, "name": self.name, "backbone": backbone, "detectors": self.detectors,
                "crop_margin": self.crop_margin, "card": self.card}
        if self.crop_jpeg:
            data["crop_jpeg"] = self.crop_jpeg
        if self.mirror:
            data["mirror"] = True
        return data

    def save(self) -> None:
        atomic_write_text(self.root / "model.json", json.dumps(self.to_dict(), indent=2))


_MODEL_KEYS = ("format", "name", "backbone", "detectors", "crop_margin", "crop_jpeg", "mirror", "card")
_BACKBONE_KEYS = ("arch", "pretrained", "weights", "sha256")
_DETECTOR_KEYS = ("checkpoint", "sha256", "threshold")


def read_bundle(path: str | Path) -> ModelBundle:
    """Read and validate a model folder: structure, files present, cards readable. Everything a load would trip on
    later is refused here, naming the file, before seconds of loading weights."""
    root = Path(path)
    manifest = root / "model.json" if root.is_dir() else root
    root = manifest.parent
    if not manifest.is_file():
        raise ModelError("not a model folder (model.json missing)", path=str(root))
    data = _read_json_object(manifest, "model.json")

    def bad(message: str) -> ModelError:
        return ModelError(message, path=str(manifest))

    if data.get("format") != FORMAT:
        raise ModelError(f"unsupported model format {data.get('format')!r}", path=str(manifest))
    _check_keys(data, _MODEL_KEYS, "", bad, required=("backbone", "detectors"))
    bb = data["backbone"]
    if not isinstance(bb, dict):
        raise bad(f'"backbone" must be an object, got {type(bb).__name__}')
    _check_keys(bb, _BACKBONE_KEYS, "backbone.", bad, required=("arch",))
    for key in _BACKBONE_KEYS:
        if bb.get(key) is not None and not (isinstance(bb[key], str) and bb[key]):
            raise bad(f'"backbone.{key}" must be a non-empty string, got {bb[key]!r}')
    bb = dict(bb)
    if bb.get("weights"):
        bb["weights"] = str(root / bb["weights"])
        if not Path(bb["weights"]).is_file():
            raise ModelError("backbone weights file not found (named in model.json)", path=bb["weights"])
    detectors = data["detectors"]
    if not isinstance(detectors, dict):
        raise bad(f'"detectors" must be an object, got {type(detectors).__name__}')
    for name, entry in detectors.items():
        _check_detector(root, name, entry, bad)
    margin = data.get("crop_margin", DEFAULT_CROP_MARGIN)
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 1.0 <= margin <= 3.0:
        raise ModelError(f"crop_margin must be a number from 1 to 3, got {margin!r}", path=str(manifest))
    crop_jpeg = _check_crop_jpeg(data.get("crop_jpeg"), bad)
    mirror = data.get("mirror", False)
    if not isinstance(mirror, bool):
        raise bad(f'"mirror" must be true or false, got {mirror!r}')
    name, card = data.get("name", root.name), data.get("card", {})
    if not isinstance(name, str):
        raise bad(f'"name" must be a string, got {name!r}')
    if not isinstance(card, dict):
        raise bad(f'"card" must be an object, got {type(card).__name__}')
    return ModelBundle(root=root, name=name, backbone=BackboneSpec(**bb), detectors=detectors, card=card,
                       crop_margin=float(margin), crop_jpeg=crop_jpeg, mirror=mirror)


def _check_crop_jpeg(value, bad) -> dict | None:
    if value is None:
        return None
    numbers = {k: v for k, v in value.items() if k != "fit"} if isinstance(value, dict) else None
    if numbers is None or set(numbers) != {"side", "quality"} or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in numbers.values()) or not (
            16 <= value["side"] <= 2048 and 1 <= value["quality"] <= 100) or value.get("fit", "resize") not in FITS:
        raise bad(f'"crop_jpeg" must be {{"side": 16-2048, "quality": 1-100}} (whole numbers) and optionally '
                  f'"fit": one of {list(FITS)}, got {value!r}')
    return dict(value)


def _read_json_object(file: Path, what: str) -> dict:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{what} is not valid JSON ({exc})", path=str(file)) from None
    except OSError as exc:
        raise ModelError(f"{what} cannot be read ({exc.strerror})", path=str(file)) from None
    if not isinstance(data, dict):
        raise ModelError(f"{what} must hold a JSON object, got {type(data).__name__}", path=str(file))
    return data


def _check_keys(data: dict, known: tuple, prefix: str, bad, required: tuple = ()) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise bad(f"unknown key(s) {', '.join(prefix + k for k in unknown)} (known: {', '.join(known)})")
    missing = [k for k in required if k not in data]
    if missing:
        raise bad(f"missing key(s) {', '.join(prefix + k for k in missing)}")


def _check_detector(root: Path, name: str, entry, bad) -> None:
    where = f"detectors.{name}"
    if not isinstance(entry, dict):
        raise bad(f'"{where}" must be an object, got {type(entry).__name__}')
    _check_keys(entry, _DETECTOR_KEYS, where + ".", bad, required=("checkpoint",))
    checkpoint, sha, threshold = entry["checkpoint"], entry.get("sha256"), entry.get("threshold", DEFAULT_THRESHOLD)
    if not isinstance(checkpoint, str) or not checkpoint:
        raise bad(f'"{where}.checkpoint" must be a file name, got {checkpoint!r}')
    if sha is not None and not isinstance(sha, str):
        raise bad(f'"{where}.sha256" must be a string, got {sha!r}')
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise bad(f'"{where}.threshold" must be a number from 0 to 1, got {threshold!r}')
    file = root / checkpoint
    if not file.is_file():
        raise ModelError(f"{name} checkpoint not found (named in model.json)", path=str(file))
    if card_path(file).exists():        # the sidecar model card: load_detector reads its weights_sha256
        card = _read_json_object(card_path(file), f"{name} model card")
        if not isinstance(card.get("weights_sha256", ""), str):
            raise ModelError(f"{name} model card: weights_sha256 must be a string", path=str(card_path(file)))


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
                "threshold": self.bundle.threshold(detector), "crop_margin": self.bundle.crop_margin,
                "crop_jpeg": self.bundle.crop_jpeg, "mirror": self.bundle.mirror,
                "input_size": self.detectors[detector].input_size}


def load_model(bundle: ModelBundle, detectors: list[str], device: str | torch.device = "cpu",
               backbone: Backbone | None = None) -> LoadedModel:
    from core.backbones import load_backbone
    from core.detectors.checkpoint import load_detector

    backbone = backbone or load_backbone(bundle.backbone, device=device)
    loaded = {name: load_detector(bundle.checkpoint(name), backbone, device=device,
                                  expected_sha256=bundle.detectors[name].get("sha256")) for name in detectors}
    return LoadedModel(bundle=bundle, backbone=backbone, detectors=loaded)


def save_model(root: str | Path, name: str, backbone: Backbone, detectors: dict[str, torch.nn.Module],
               thresholds: dict[str, float] | None = None, card: dict | None = None, half: bool = False,
               crop_margin: float = DEFAULT_CROP_MARGIN, crop_jpeg: dict | None = None,
               mirror: bool = False) -> ModelBundle:
    """Write a complete model folder (atomically per file).

    The backbone is referenced by its open_clip pretrained tag, or its weights file is copied in byte for byte (so
    its SHA-256, which the detector checkpoints record, stays the same). A backbone that only exists in memory
    (trained here) is written as safetensors and from then on identified by that file's hash. `half` stores the
    detectors' (and such a backbone's) floating-point weights as float16.
    """
    import shutil

    from safetensors.torch import save_file

    from core.atomic import atomic_path
    from core.detectors.checkpoint import save_detector, state_for_file

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
                         crop_margin=crop_margin, crop_jpeg=crop_jpeg, mirror=mirror)
    bundle.save()
    return bundle
