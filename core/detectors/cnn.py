"""A plain supervised CNN: the baseline the CLIP detectors must beat on the same data and budget.

No CLIP, no prompts, no forensic filters: RGB in, five stages of 3x3 convolutions (stride 2 each; BatchNorm and
ReLU; two convolutions per stage after the first), global average pooling, one linear layer to two logits,
cross-entropy. The width grows 32 -> 256; at 192 px a training step costs about twice the ffd-dct image tower's
(91 vs 203 faces/s on 2 CPU cores), so at equal epochs the baseline gets the larger budget. If the CLIP detectors
do not beat this, they add nothing.

It is built on a backbone like every detector (the engine asks `input_size` of it), but never runs it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.detectors.base import Detector, DetectorOutput, Labels
from core.detectors.registry import register_detector


@register_detector("cnn")
class PlainCNNDetector(Detector):
    default_config = {"widths": [32, 64, 128, 192, 256], "dropout": 0.2}

    def __init__(self, backbone, config: dict):
        super().__init__(backbone, {**self.default_config, **config})
        layers: list[nn.Module] = []
        in_ch = 3
        for i, width in enumerate(self.config["widths"]):
            for j in range(1 if i == 0 else 2):
                layers += [nn.Conv2d(in_ch, width, 3, stride=2 if j == 0 else 1, padding=1, bias=False),
                           nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                in_ch = width
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(float(self.config["dropout"]))
        self.head = nn.Linear(in_ch, 2)

    def _logits(self, faces: torch.Tensor) -> torch.Tensor:
        pooled = self.features(self.normalize(faces)).mean(dim=(2, 3))
        return self.head(self.dropout(pooled))

    def forward(self, faces: torch.Tensor) -> DetectorOutput:
        return DetectorOutput(p_fake=torch.softmax(self._logits(faces), dim=1)[:, 1])

    def loss(self, faces: torch.Tensor, labels: Labels) -> dict[str, torch.Tensor]:
        ce = F.cross_entropy(self._logits(faces), labels.fake.to(faces.device))
        return {"total": ce, "ce": ce.detach()}
