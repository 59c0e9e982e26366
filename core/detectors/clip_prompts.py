"""CLIP itself, fine-tuned on the hierarchical prompts: the backbone-training stage and a zero-shot-style baseline.

Stage 1 of training a backbone from scratch (or adapting a pretrained one to faces): both towers are trained with
an image-text contrastive loss on MFCLIP's four-level prompts. At each level the images of a batch are contrasted
with the distinct captions of that level present in the batch (level 1 is the real/fake pair, level 4 names the
generator), so identical captions of different samples are not treated as negatives of each other:

    L = sum_l w_l * mean_i CE(tau * <f(x_i), g(c)> over c in unique captions of level l, target = caption(i, l))

with w = (1, 1/2, 1/2, 1/2) / sum. p_fake is the softmax over the level-1 pair ("a photo of a real face" /
"a photo of a fake face"), exactly CLIP's zero-shot classifier. The trained weights become a backbone for HAMLET and
MFCLIP with `export_backbone`.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from core.detectors.base import Detector, DetectorOutput, Labels
from core.detectors.mfclip import LEVEL1, build_prompts
from core.detectors.registry import register_detector

LEVEL_WEIGHTS = (1.0, 0.5, 0.5, 0.5)


@register_detector("clip")
class ClipPromptDetector(Detector):
    # The text tower stays frozen by default: from a random initialisation, training both towers stalled at chance
    # for 10+ epochs (text gradients ~4x the visual ones at init), while image-only training learns from epoch 1.
    default_config = {"train_text": False}

    def __init__(self, backbone, config: dict):
        super().__init__(backbone, {**self.default_config, **config})
        self.model = copy.deepcopy(backbone.model).requires_grad_(True)
        if not self.config["train_text"]:
            for name, param in self.model.named_parameters():
                if not name.startswith("visual."):
                    param.requires_grad_(False)
        self._tokens: dict[str, torch.Tensor] = {}

    def _text(self, captions: list[str]) -> torch.Tensor:
        device = self.model.logit_scale.device
        missing = [c for c in captions if c not in self._tokens]
        if missing:
            for caption, tokens in zip(missing, self.backbone.tokenize(missing), strict=True):
                self._tokens[caption] = tokens
        tokens = torch.stack([self._tokens[c] for c in captions]).to(device)
        return F.normalize(self.model.encode_text(tokens), dim=-1)

    def _image(self, faces: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(self.normalize(faces)), dim=-1)

    def forward(self, faces: torch.Tensor) -> DetectorOutput:
        image = self._image(faces)
        text = self._text([LEVEL1[False], LEVEL1[True]])
        sims = image @ text.T
        p_fake = torch.softmax(self.model.logit_scale.exp().clamp(max=100) * sims, dim=1)[:, 1]
        return DetectorOutput(p_fake=p_fake, similarities={"real": sims[:, 0], "fake": sims[:, 1]})

    def loss(self, faces: torch.Tensor, labels: Labels) -> dict[str, torch.Tensor]:
        image = self._image(faces)
        prompts = build_prompts(labels)
        scale = self.model.logit_scale.exp().clamp(max=100)
        terms = {}
        for level in range(len(LEVEL_WEIGHTS)):
            captions = [p[level] for p in prompts]
            unique = sorted(set(captions))
            target = torch.tensor([unique.index(c) for c in captions], device=image.device)
            logits = scale * image @ self._text(unique).T
            terms[f"level{level + 1}"] = F.cross_entropy(logits, target) if len(unique) > 1 else logits.sum() * 0
        total = sum(w * terms[f"level{i + 1}"] for i, w in enumerate(LEVEL_WEIGHTS)) / sum(LEVEL_WEIGHTS)
        return {"total": total, **{k: v.detach() for k, v in terms.items()}}

    def export_backbone(self) -> dict[str, torch.Tensor]:
        """The fine-tuned CLIP weights, loadable as a backbone of the same architecture."""
        return {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
