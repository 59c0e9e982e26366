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


def score_faces(detector: Detector, faces: torch.Tensor, mirror: bool = False) -> DetectorOutput:
    """The detector's output on `faces`; with `mirror`, averaged with its output on their mirror images (one batch).

    Why: a detector trained from scratch scores a face and its mirror image differently, and their average ranks
    faces better (the v16 default's validation AUC 0.912 / 0.913 -> 0.924 / 0.923, `benchmarks/mirror_probe.py`)
    for twice the compute. Attention maps of the mirror images are mirrored back before averaging; the extras
    (MFCLIP's richest patch and its noise view) come from the face as it is, the one the investigator sees.
    """
    if not mirror:
        return detector(faces)
    n = len(faces)
    both = detector(torch.cat([faces, faces.flip(-1)]))
    attention = None if both.attention is None else (both.attention[:n] + both.attention[n:].flip(-1)) / 2
    return DetectorOutput(p_fake=(both.p_fake[:n] + both.p_fake[n:]) / 2,
                          similarities={k: (v[:n] + v[n:]) / 2 for k, v in both.similarities.items()},
                          attention=attention, extras={k: v[:n] for k, v in both.extras.items()})
