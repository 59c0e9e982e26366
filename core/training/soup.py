"""A weight average ("model soup") of towers refined from one another, the recipe's way to keep what each refine
learnt without the other's losses.

Towers fine-tuned from a common ancestor sit in one basin of the loss, so their uniform average is itself a good
tower and tends to generalise better than either (Wortsman et al., "Model soups", ICML 2022; WiSE-FT, CVPR 2022).
Towers trained from different random starts do not share a basin: averaging those gives noise, so the recipe only
averages a refine with the tower it was refined from (checked by the caller's provenance, not guessable here).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from core.atomic import atomic_path
from core.backbones.weights import load_state_dict
from core.errors import ModelError


def average_state(states: list[dict[str, torch.Tensor]], names: list[str]) -> dict[str, torch.Tensor]:
    """The uniform average of float tensors, in float32, stored in the first state's dtypes; integer buffers (e.g.
    a batch-norm step count) are taken from the first state. Different keys, shapes or dtypes are refused by name."""
    if len(states) < 2:
        raise ModelError("a weight average needs at least two towers")
    first = states[0]
    for state, name in zip(states[1:], names[1:], strict=True):
        if state.keys() != first.keys():
            odd = sorted(state.keys() ^ first.keys())[:3]
            raise ModelError(f"towers of different architectures cannot be averaged (keys {odd} differ)", path=name)
        for key, value in state.items():
            if value.shape != first[key].shape or value.is_floating_point() != first[key].is_floating_point():
                raise ModelError(f"towers differ at {key}: {tuple(value.shape)} vs {tuple(first[key].shape)}",
                                 path=name)
    averaged = {}
    for key, value in first.items():
        if value.is_floating_point():
            mean = torch.stack([state[key].float() for state in states]).mean(0)
            averaged[key] = mean.to(value.dtype).contiguous()
        else:
            averaged[key] = value.contiguous()
    return averaged


def average_towers(files: list[str | Path], target: str | Path) -> Path:
    """Average the towers in `files` (safetensors or safe torch files) into `target`, written atomically."""
    names = [str(f) for f in files]
    averaged = average_state([load_state_dict(f) for f in files], names)
    with atomic_path(target) as tmp:
        save_file(averaged, str(tmp), metadata={"ffd_soup_of": "\n".join(Path(n).name for n in names)})
    return Path(target)
