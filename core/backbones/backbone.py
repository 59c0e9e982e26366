"""Resolve a CLIP backbone (architecture + weights) into a frozen open_clip model the detectors share.

Weights come from, in this order: an explicit file, an open_clip pretrained tag (local cache first, the network only
when it answers), or the newest weights the user imported for that architecture. A randomly initialised backbone
is refused unless the caller asks for it explicitly (tests, training from scratch).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
from torch import nn

from core.backbones import weights as W
from core.backbones.configs import architecture_config
from core.backbones.spec import BackboneSpec
from core.backbones.stems import apply_stem
from core.digest import cached_sha256
from core.errors import ModelError

IMPORT_HINT = "import a weights file with `ffd models import PATH --arch {arch}`"


@dataclass
class Backbone:
    """A frozen open_clip CLIP model plus what identifies its weights (for reports and checkpoint checks)."""

    spec: BackboneSpec
    model: nn.Module
    tokenizer: object
    weights_sha256: str | None
    source: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def arch(self) -> str:
        return self.spec.arch

    @property
    def image_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, tuple | list) else size)

    @property
    def vision_layers(self) -> int:
        return len(self.model.visual.transformer.resblocks)

    @property
    def embed_dim(self) -> int:
        return int(self.model.text_projection.shape[1])

    def describe(self) -> dict:
        return {"arch": self.arch, "weights_sha256": self.weights_sha256, "source": self.source}

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        return self.tokenizer(texts)


def load_backbone(spec: BackboneSpec | str, *, device: str | torch.device = "cpu",
                  allow_random: bool = False) -> Backbone:
    spec = BackboneSpec.parse(spec) if isinstance(spec, str) else spec
    architecture_config(spec.arch)  # clear error for unknown names
    path, source = _weights_file(spec, allow_random)  # before building: a missing file fails fast
    with _quiet_open_clip():
        model = apply_stem(open_clip.create_model(spec.arch, pretrained=None, device="cpu"), spec.arch)
    mean, std = open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD
    digest = None
    if path is not None:
        digest = cached_sha256(path)
        if spec.sha256 and digest != spec.sha256:
            raise ModelError(f"backbone weights hash {digest[:12]} does not match the expected "
                             f"{spec.sha256[:12]}; the file was changed or is the wrong one", path=path)
        apply_state_dict(model, W.load_state_dict(path), spec.arch, path)
        if spec.pretrained:
            pcfg = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained)
            mean, std = pcfg.get("mean", mean), pcfg.get("std", std)

    model.eval().requires_grad_(False).to(device)
    return Backbone(spec=spec, model=model, tokenizer=tokenizer_for(spec.arch), weights_sha256=digest,
                    source=source, mean=tuple(mean), std=tuple(std))


@functools.cache
def tokenizer_for(arch: str):
    """One tokenizer per architecture for the process. Why: open_clip parses its BPE table anew on every call
    (~0.1 s of Python work), and the desktop loads a backbone on its worker at every analysis and training start,
    competing with the window for the GIL. A tokenizer keeps no state but a cache of encoded words."""
    return open_clip.get_tokenizer(arch)


def apply_state_dict(model: nn.Module, state: dict[str, torch.Tensor], arch: str, path: str) -> None:
    """Strict load: a file meant for another architecture is an error, not a partial load."""
    if hasattr(model, "text"):  # CustomTextCLIP keeps its text tower under `text.`
        state = open_clip.model.convert_to_custom_text_state_dict(state)
    model_state = model.state_dict()
    mismatched = [k for k, v in state.items() if k in model_state and model_state[k].shape != v.shape]
    missing = sorted(set(model_state) - set(state))
    unexpected = sorted(set(state) - set(model_state))
    if mismatched or missing or unexpected:
        detail = "; ".join(
            f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''} ({len(keys)})"
            for label, keys in (("shape mismatch", mismatched), ("missing", missing), ("unexpected", unexpected))
            if keys)
        raise ModelError(f"weights do not fit architecture {arch} ({detail})", path=path)
    model.load_state_dict(state, strict=True)


def _weights_file(spec: BackboneSpec, allow_random: bool) -> tuple[str | None, str]:
    if spec.weights:
        return str(Path(spec.weights).expanduser()), f"file:{spec.weights}"
    if spec.pretrained:
        return _pretrained_file(spec.arch, spec.pretrained), f"open_clip:{spec.pretrained}"
    entry = W.find_imported(spec.arch, spec.sha256)
    if entry is not None:
        return entry["file"], f"imported:{entry['source']}"
    if allow_random:
        return None, "random-init"
    raise ModelError(f"no weights available for backbone {spec.arch}: name a pretrained tag "
                     f"(e.g. {spec.arch}:openai) or {IMPORT_HINT.format(arch=spec.arch)}. "
                     "A randomly initialised backbone would give meaningless scores and is refused.")


def _pretrained_file(arch: str, tag: str) -> str:
    pcfg = open_clip.get_pretrained_cfg(arch, tag)
    if not pcfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise ModelError(f"open_clip has no pretrained weights {arch}:{tag}; known tags: {', '.join(tags) or 'none'}")
    cached = W.cached_pretrained_file(pcfg)
    if cached:
        return cached
    host, port = W.hub_host()
    if not W.network_reachable(host, port):
        raise ModelError(f"weights {arch}:{tag} are not in the local cache and {host} cannot be reached "
                         f"(offline?); {IMPORT_HINT.format(arch=arch)}")
    try:
        return open_clip.pretrained.download_pretrained(pcfg)
    except Exception as exc:  # network errors come in many types; all mean the same to the user
        raise ModelError(f"downloading {arch}:{tag} failed ({type(exc).__name__}); "
                         f"{IMPORT_HINT.format(arch=arch)}") from None


@contextlib.contextmanager
def _quiet_open_clip():
    """open_clip logs 'initialized randomly' before we load our own weights: not news to anyone."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def encode_text_embeddings(model: nn.Module, embeddings: torch.Tensor, eot_index: torch.Tensor) -> torch.Tensor:
    """Run the frozen CLIP text transformer on given token embeddings (prompt learning).

    embeddings: (N, L, width) word embeddings, L <= context length; eot_index: (N,) position of the end token,
    whose output (after ln_final and text_projection) is the sentence feature, as in CLIP's encode_text.
    """
    length = embeddings.shape[1]
    x = embeddings + model.positional_embedding[:length].to(embeddings.dtype)
    mask = model.attn_mask[:length, :length] if model.attn_mask is not None else None
    x = model.transformer(x, attn_mask=mask)
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), eot_index]
    proj = model.text_projection
    return proj(x) if isinstance(proj, nn.Linear) else x @ proj
