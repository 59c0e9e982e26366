"""The Detector protocol every forgery detector implements, and the output type the engine consumes.

Detectors receive face crops as float tensors in [0, 1], RGB, N x 3 x S x S (S = `input_size`), and do their own
normalisation: MFCLIP needs the raw pixels for its SRM noise branch, so normalising is not the engine's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class DetectorOutput:
    """Per-face results of one forward pass (all tensors have the batch as first dimension)."""

    p_fake: torch.Tensor                                              # (N,) probability the face is forged
    similarities: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (N,) cosine similarities
    attention: torch.Tensor | None = None                             # (N, S, S) in [0, 1], crop resolution
    extras: dict[str, torch.Tensor] = field(default_factory=dict)     # e.g. "patch_box" (N, 4), "srm" (N, 3, p, p)

    def detach_cpu(self) -> DetectorOutput:
        return DetectorOutput(
            p_fake=self.p_fake.detach().float().cpu(),
            similarities={k: v.detach().float().cpu() for k, v in self.similarities.items()},
            attention=None if self.attention is None else self.attention.detach().float().cpu(),
            extras={k: v.detach().cpu() for k, v in self.extras.items()},
        )


@dataclass
class Labels:
    """Training targets: `fake` (N,) 0/1, plus optional finer labels MFCLIP turns into prompt levels."""

    fake: torch.Tensor
    category: list[str | None] | None = None   # "swap" | "attribute" | "synthesis" (level 2)
    family: list[str | None] | None = None     # "gan" | "diffusion" | ... (level 3)
    method: list[str | None] | None = None     # "stylegan", "deepfakes", "sbi", ... (level 4)


class Detector(nn.Module):
    """Base class: subclasses set `name` and implement `forward` and `loss`.

    `self.clip` is the shared, frozen open_clip model (registered so `.to(device)` moves it; excluded from
    checkpoints and kept in eval mode); `self.backbone` describes it. Everything else is the detector's own state.
    """

    name: str = ""

    def __init__(self, backbone, config: dict):
        super().__init__()
        self.backbone = backbone          # core.backbones.Backbone (plain object: arch, hashes, tokenizer)
        self.clip = backbone.model
        self.config = dict(config)

    def train(self, mode: bool = True) -> Detector:
        super().train(mode)
        self.clip.eval()  # frozen: no dropout / norm statistics updates, whatever the detector's mode
        return self

    @property
    def input_size(self) -> int:
        return self.backbone.image_size

    def forward(self, faces: torch.Tensor) -> DetectorOutput:  # pragma: no cover - interface
        raise NotImplementedError

    def loss(self, faces: torch.Tensor, labels: Labels) -> dict[str, torch.Tensor]:  # pragma: no cover
        """Named loss terms; "total" is the one to minimise."""
        raise NotImplementedError

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def normalize(self, faces: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.backbone.mean, device=faces.device, dtype=faces.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.backbone.std, device=faces.device, dtype=faces.dtype).view(1, 3, 1, 1)
        return (faces - mean) / std

    def own_state_dict(self) -> dict[str, torch.Tensor]:
        """The detector's weights without the shared frozen backbone (what a checkpoint stores)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("clip.")}
