"""CLIP itself, fine-tuned on the hierarchical prompts: the backbone-training stage and a zero-shot-style baseline.

Stage 1 of training a backbone from scratch (or adapting a pretrained one to faces): both towers are trained with
an image-text contrastive loss on MFCLIP's four-level prompts. At each level the images of a batch are contrasted
with the distinct captions of that level present in the batch (level 1 is the real/fake pair, level 4 names the
generator), so identical captions of different samples are not treated as negatives of each other:

    L = sum_l w_l * mean_i CE(tau * <f(x_i), g(c)> over c in unique captions of level l, target = caption(i, l))

with w = (1, 1/2, 1/2, 1/2) / sum. p_fake is the softmax over the level-1 pair ("a photo of a real face" /
"a photo of a fake face"), exactly CLIP's zero-shot classifier. The trained weights become a backbone for HAMLET and
MFCLIP with `export_backbone`.

From a random initialisation the patch embedding starts as a block DCT (`patch_init="dct"`): forgery traces on these
faces are weak high-frequency texture statistics (a linear model on 8x8 block-DCT magnitudes separates FFHQ from
StyleGAN crops at AUC ~0.8), which a randomly initialised ViT did not pick up in several epochs on a few thousand
faces (validation AUC 0.49 after two epochs at 160 px, vs 0.61 with the DCT start). Each output channel is one
non-constant DCT basis of the patch on luminance (then on single colour channels), scaled by its frequency so the
faint high-frequency coefficients are not drowned by the low ones (natural images have a ~1/f spectrum).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from core.detectors.base import Detector, DetectorOutput, Labels
from core.detectors.mfclip import LEVEL1, build_prompts
from core.detectors.registry import register_detector

LEVEL_WEIGHTS = (1.0, 0.5, 0.5, 0.5)


@register_detector("clip")
class ClipPromptDetector(Detector):
    # The text tower stays frozen by default: from a random initialisation, training both towers stalled at chance
    # for 10+ epochs (text gradients ~4x the visual ones at init), while image-only training learns from epoch 1.
    # The logit scale trains even so: frozen at CLIP's 1/0.07 with two random captions at cosine ~0.98, the largest
    # reachable real/fake logit gap was ~3 and the loss saturated early.
    # `probe_weight` adds a linear real/fake head on the image embedding, trained by plain cross-entropy beside the
    # prompt loss: with a random frozen text tower every caption embedding is nearly the same vector, and the prompt
    # loss alone left validation AUC flat at ~0.59 for a compact ViT (first default model) and for the forensic-stem
    # tower (3 epochs here); the head gives the image tower a direct, well-conditioned signal. When present, p_fake
    # is the head's (model selection then measures how linearly separable the tower's features are).
    default_config = {"train_text": False, "train_logit_scale": True, "patch_init": "dct", "probe_weight": 0.0}

    def __init__(self, backbone, config: dict):
        super().__init__(backbone, {**self.default_config, **config})
        self.model = copy.deepcopy(backbone.model).requires_grad_(True)
        conv1 = self.model.visual.conv1
        if self.config["patch_init"] == "dct" and backbone.source == "random-init" and isinstance(conv1, torch.nn.Conv2d):
            dct_patch_embedding_(conv1)
        if not self.config["train_text"]:
            for name, param in self.model.named_parameters():
                if not name.startswith("visual.") and not (name == "logit_scale"
                                                           and self.config["train_logit_scale"]):
                    param.requires_grad_(False)
        self._tokens: dict[str, torch.Tensor] = {}
        self._frozen_text: dict[str, torch.Tensor] = {}   # caption -> embedding, when the text tower is frozen
        self.probe = nn.Linear(backbone.embed_dim, 2) if self.config["probe_weight"] > 0 else None

    def _text(self, captions: list[str]) -> torch.Tensor:
        if not self.config["train_text"]:  # a frozen tower gives each caption one embedding: encode it once
            device = self.model.logit_scale.device
            if any(v.device != device for v in self._frozen_text.values()):
                self._frozen_text.clear()  # moved to another device since
            missing = [c for c in captions if c not in self._frozen_text]
            if missing:
                with torch.no_grad():
                    self._frozen_text.update(zip(missing, self._encode_text(missing), strict=True))
            return torch.stack([self._frozen_text[c] for c in captions])
        return self._encode_text(captions)

    def _encode_text(self, captions: list[str]) -> torch.Tensor:
        device = self.model.logit_scale.device
        missing = [c for c in captions if c not in self._tokens]
        if missing:
            for caption, tokens in zip(missing, self.backbone.tokenize(missing), strict=True):
                self._tokens[caption] = tokens
        tokens = torch.stack([self._tokens[c] for c in captions]).to(device)
        return F.normalize(self.model.encode_text(tokens), dim=-1)

    def _image(self, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised embedding, raw embedding) of the faces."""
        raw = self.model.encode_image(self.normalize(faces))
        return F.normalize(raw, dim=-1), raw

    def forward(self, faces: torch.Tensor) -> DetectorOutput:
        image, raw = self._image(faces)
        text = self._text([LEVEL1[False], LEVEL1[True]])
        sims = image @ text.T
        logits = self.probe(raw) if self.probe is not None else self.model.logit_scale.exp().clamp(max=100) * sims
        p_fake = torch.softmax(logits, dim=1)[:, 1]
        return DetectorOutput(p_fake=p_fake, similarities={"real": sims[:, 0], "fake": sims[:, 1]})

    def loss(self, faces: torch.Tensor, labels: Labels) -> dict[str, torch.Tensor]:
        image, raw = self._image(faces)
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
        if self.probe is not None:
            terms["probe"] = F.cross_entropy(self.probe(raw), labels.fake.to(raw.device))
            total = total + self.config["probe_weight"] * terms["probe"]
        return {"total": total, **{k: v.detach() for k, v in terms.items()}}

    def export_backbone(self) -> dict[str, torch.Tensor]:
        """The fine-tuned CLIP weights, loadable as a backbone of the same architecture."""
        return {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}


@torch.no_grad()
def dct_patch_embedding_(conv: torch.nn.Conv2d) -> None:
    """Set a ViT's patch-embedding convolution (width x 3 x P x P) to frequency-scaled 2-D DCT bases (in place)."""
    width, _, size, _ = conv.weight.shape
    k = torch.arange(size, dtype=torch.float64)
    basis_1d = torch.cos(torch.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * size))    # (frequency, position)
    basis_1d[0] /= 2 ** 0.5
    basis_1d *= (2 / size) ** 0.5                                                       # orthonormal DCT-II
    order = sorted(((u, v) for u in range(size) for v in range(size) if u or v), key=lambda uv: (sum(uv), uv))
    luminance = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)
    colours = [luminance] + [torch.eye(3, dtype=torch.float64)[c] for c in range(3)]
    weight = torch.zeros(width, 3, size, size, dtype=torch.float64)
    for channel in range(width):
        u, v = order[channel % len(order)]
        colour = colours[(channel // len(order)) % len(colours)]
        weight[channel] = colour[:, None, None] * torch.outer(basis_1d[u], basis_1d[v]) * (u + v)
    conv.weight.copy_(weight.to(conv.weight.dtype))
    if conv.bias is not None:
        conv.bias.zero_()
