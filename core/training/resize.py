"""Carry a trained tower to another input size: the same weights, its grid of position embeddings re-sampled.

A block-DCT stem and the transformer blocks do not depend on the image size; only the position embeddings do, one
per patch of the grid. Fine-tuning at a higher resolution from a tower trained at a lower one (as ViTs commonly are,
Touvron et al., "Fixing the train-test resolution discrepancy", NeurIPS 2019) needs that grid interpolated, which
open_clip's `resize_pos_embed` does (bicubic). Everything else must fit the new architecture as it is: a tower of
another stem or width is refused by the strict load, not silently half-loaded.
"""

from __future__ import annotations

from pathlib import Path

import open_clip
from safetensors.torch import save_file

from core.atomic import atomic_path
from core.backbones.backbone import apply_state_dict, load_backbone
from core.backbones.weights import load_state_dict


def resize_tower(source: str | Path, arch: str, target: str | Path) -> Path:
    """Write the tower in `source` re-gridded for `arch` to `target` (atomically, in the source's dtypes)."""
    model = load_backbone(arch, allow_random=True).model  # the target's shapes; a clear error for an unknown name
    state = load_state_dict(source)
    dtypes = {key: value.dtype for key, value in state.items()}
    state = {key: value.float() if value.is_floating_point() else value for key, value in state.items()}
    open_clip.model.resize_pos_embed(state, model)
    apply_state_dict(model, state, arch, str(source))  # strict: only the position grid may differ
    resized = {key: value.to(dtypes[key]).contiguous() for key, value in state.items()}
    with atomic_path(target) as tmp:
        save_file(resized, str(tmp), metadata={"ffd_resized_from": Path(source).name, "ffd_arch": arch})
    return Path(target)

