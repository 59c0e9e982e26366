"""MFCLIP: multi-modal fine-grained CLIP for face forgery detection (Zhang et al., papers/MFCLIP.txt).

Architecture (names as in the paper)

- Patch selector (PS): every crop is cut into non-overlapping p x p patches (p = ``patch_size``, default
  input_size // 2, i.e. 112 on a 224 crop); the patch with the lowest GLCM homogeneity (richest texture) is chosen
  (`core.forensics.glcm`, vectorised, computed on the raw [0, 1] pixels on the input's device, no gradient).
- Multi-modal vision encoder (MVE): X_v = X_i + N_n.
  * Image encoder (IE), ``image_encoder``: ``"clip"`` (default) is a deep copy of the backbone's CLIP visual tower
    (pretrained weights; the shared frozen model is never touched; trainable unless ``freeze_image_encoder``), fed
    CLIP-normalised RGB crops; ``"cvit"`` is a from-scratch convolutional ViT in the spirit of CViT (conv stages to
    stride 16, then a transformer over the feature-map cells, class token -> d).
  * Noise encoder (NE): SRM residual of the richest patch alone (`core.forensics.srm`: fixed kernels, reflect
    padding at the patch border, truncated to [-3, 3] on the 0..255 scale; divided by 3 here) -> small CNN with GroupNorm (no batch statistics, so any batch size,
    1 included, behaves the same in training and inference) -> adaptive average pooling to c x h x w = 64 x 8 x 8
    (any p works) -> the h * w = 64 cells become 64 tokens of c features -> linear to ``noise_width`` -> learnable
    class token and position embeddings -> B = ``noise_blocks`` pre-norm transformer blocks -> class token -> linear
    to d = backbone.embed_dim.
  * Resolution, ``noise_input_size``: None (the paper) feeds both encoders the backbone's crop. An integer S larger
    than the backbone's crop makes the detector take S-pixel crops: the patch selector and the noise encoder read
    them as they are, and the image encoder reads them shrunk to its own size exactly as OpenCV would
    (`area_shrink`). Why: generator and blending traces live in the highest frequencies, which shrinking a face to
    the tower's size averages away. Measured on the default model's tower (README, v11): 256 px gave no StyleGAN gain
    there, so the recipe keeps None.
- Fine-grained text generator (FTG): four sentences per sample from whatever labels it has (`build_prompt`).
- Fine-grained language encoder (FLE): CLIP's text transformer, token embedding, positional embedding, ln_final and
  text_projection, deep-copied WITH their pretrained weights (the public code never loaded them), trainable unless
  ``freeze_text_encoder``. Input: the four sentences' token embeddings, each trimmed at its end-of-text token and
  keeping CLIP's own positions 0..len-1, plus a learnable per-level embedding (zero-initialised: at the start a single
  sentence is encoded exactly as CLIP's encode_text would), concatenated into one sequence. Pooling: the
  output at the LAST end-of-text token of the whole sequence (the fourth sentence's), through ln_final and
  text_projection. Under CLIP's causal mask that token attends to every token of all four levels, so every level
  influences T_l (the public code pooled a position levels 2-4 could not reach). We keep the causal mask and EOT
  pooling rather than dropping the mask for a new class token because both are what the pretrained weights were
  trained with: no untrained pooling token, no attention pattern CLIP never saw. Padding after the last EOT is
  invisible to it under the causal mask. Tokenisation is cached per sentence and per prompt; features are computed
  once per distinct prompt in a batch, and cached outright whenever no gradient is needed (frozen FLE, inference);
  that cache is keyed on the FLE parameters' storage and version counters, so training steps, `load_state_dict`
  and device moves invalidate it automatically.
- Sample pair attention (SPA), any batch size b. Eq. 7's d x d matrix A cannot weight b x b pairs, so the pair
  weight is bilinear: A_ij = x_i^T W t_j with W in R^{d x d} learnable (zero-initialised: every pair starts at
  sigma(0) = 1/2), x = X_v / |X_v|, t = T_l / |T_l|. With sim(x_i, t_j) the cosine similarity and a learnable tau
  (parametrised as log(1/tau), initialised at tau = 0.07, 1/tau clamped to <= 100 as in CLIP, so tau > 0 always):

      S_v2l^ij = exp(sim(x_i, t_j)/tau) / sum_k exp(sim(x_i, t_k)/tau) * sigma(A_ij)        (eq. 9)
      S_l2v^ij = exp(sim(t_i, x_j)/tau) / sum_k exp(sim(t_i, x_k)/tau) * sigma(A_ji)        (eq. 10)
      L_v2l = -1/b sum_i log S_v2l^ii,  L_l2v = -1/b sum_i log S_l2v^ii,  L_cmc = (L_v2l + L_l2v) / 2   (eqs. 11, 12)

  computed in log space (log_softmax + logsigmoid). Eq. 9 as printed normalises over i, which would make L_v2l
  and L_l2v the same number (both would normalise the pair (x_i, t_i) over images); we read it as CLIP's image ->
  text softmax over the texts, the mirror of eq. 10. The l2v pair (t_i, x_j) is the pair (x_j, t_i), hence
  sigma(A_ji). As written, only the diagonal weights enter the loss; config ``spa_renormalize`` (default False =
  the paper) instead renormalises the weighted row, S = softmax(sim/tau + log sigma(A)), through which the
  off-diagonal weights also emphasise or suppress negatives.
  Note: samples with identical prompts (e.g. all real faces) have identical T_l, so L_cmc cannot go below the mean
  over samples of log(number of samples in the batch sharing that prompt).
- Losses: L_ce = cross-entropy of the MLP head (one linear layer, as in the paper) on X_v; L_kl (eq. 13) =
  KL(softmax(T_l / 0.5) || softmax(T_pre / 0.5)), batchmean, with T_pre = predictor(X_v) (one linear layer) and
  T_l treated as the target (no gradient through it, so the text features cannot collapse towards the prediction;
  the FLE is trained by L_cmc); L_cmc as above. total = ce_weight * L_ce + kl_weight * L_kl + cmc_weight * L_cmc.
- Inference (eq. 3): p_fake = softmax(MLP(X_v))[fake]. Similarities "real" / "fake": cosine of T_pre with the FLE
  features of the real / fake reference prompts, i.e. the level-1 sentences "a photo of a real face" / "a photo of a
  fake face" completed by the FTG to the four-level form used in training (`REFERENCE_PROMPTS`); these are cached
  (see above). Extras: "patch_box" (N, 4) int64 x0, y0, x1, y1 (exclusive) in crop pixels, "srm" (N, 3, p, p) SRM
  residual of that patch (values in [-3, 3]), "patch_homogeneity" (N,) its GLCM homogeneity. Attention is None:
  MFCLIP has no spatial attention map, and a patch mask shown as "attention" would suggest a saliency the model does
  not compute; the GUI and the report draw the box and the noise map from the extras instead.
"""

from __future__ import annotations

import copy
import functools
import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from core.detectors.base import Detector, DetectorOutput, Labels
from core.detectors.registry import register_detector
from core.errors import ModelError
from core.forensics.glcm import crop_patches, richest_patch
from core.forensics.srm import TRUNCATION, SRMFilter

# ----------------------------------------------------------------------------------------------------------------------
# Fine-grained text generator (FTG)
# ----------------------------------------------------------------------------------------------------------------------

LEVEL1 = {False: "a photo of a real face", True: "a photo of a fake face"}
CATEGORY_TEXT = {
    "swap": "a photo of an identity swapped face",
    "attribute": "a photo of an attribute manipulated face",
    "synthesis": "a photo of an entire synthesized face",
}
FAMILY_TEXT = {
    "diffusion": "a photo generated by the diffusion-based model",
    "gan": "a photo generated by the GAN-based model",
    "autoencoder": "a photo generated by the autoencoder-based model",
    "graphics": "a photo generated by the graphics-based model",
    "blending": "a photo generated by the blending-based model",
    "neural-rendering": "a photo generated by the neural rendering-based model",
}
# Levels 2-4 of a real face, and of a fake face whose finer labels are unknown.
REAL_LEVELS = ("a photo of an unmanipulated face", "a photo captured by a camera", "a photo of a real person")
UNKNOWN_FAKE_LEVELS = ("a photo of a manipulated face", "a photo generated by an unknown model",
                       "a photo generated by an unknown method")

_CATEGORY_ALIASES = {
    "swap": "swap", "faceswap": "swap", "identityswap": "swap", "fs": "swap",
    "attribute": "attribute", "attributemanipulation": "attribute", "am": "attribute", "reenactment": "attribute",
    "expression": "attribute", "synthesis": "synthesis", "entiresynthesis": "synthesis", "entirefacesynthesis":
    "synthesis", "efs": "synthesis",
}
_FAMILY_ALIASES = {
    "diffusion": "diffusion", "gan": "gan", "autoencoder": "autoencoder", "ae": "autoencoder", "graphics": "graphics",
    "blending": "blending", "blend": "blending", "neuralrendering": "neural-rendering",
}

# method key -> (category, family, name used in the level-4 sentence)
METHODS: dict[str, tuple[str, str, str]] = {
    # entire face synthesis
    "stylegan": ("synthesis", "gan", "StyleGAN"),
    "stylegan2": ("synthesis", "gan", "StyleGAN2"),
    "stylegan3": ("synthesis", "gan", "StyleGAN3"),
    "styleganxl": ("synthesis", "gan", "StyleGAN-XL"),
    "progan": ("synthesis", "gan", "ProGAN"),
    "pggan": ("synthesis", "gan", "ProGAN"),
    "ddpm": ("synthesis", "diffusion", "DDPM"),
    "latdiff": ("synthesis", "diffusion", "latent diffusion"),
    "ldm": ("synthesis", "diffusion", "latent diffusion"),
    "colldiff": ("synthesis", "diffusion", "Collaborative Diffusion"),
    "stablediffusion": ("synthesis", "diffusion", "Stable Diffusion"),
    "midjourney": ("synthesis", "diffusion", "Midjourney"),
    # identity swap
    "deepfakes": ("swap", "autoencoder", "Deepfakes"),
    "faceswap": ("swap", "graphics", "FaceSwap"),
    "faceshifter": ("swap", "gan", "FaceShifter"),
    "simswap": ("swap", "gan", "SimSwap"),
    "fsgan": ("swap", "gan", "FSGAN"),
    "fslsd": ("swap", "gan", "FSLSD"),
    "faceswapper": ("swap", "gan", "FaceSwapper"),
    "diffface": ("swap", "diffusion", "DiffFace"),
    "sbi": ("swap", "blending", "self-blending"),
    "selfblending": ("swap", "blending", "self-blending"),
    # attribute manipulation / reenactment
    "face2face": ("attribute", "graphics", "Face2Face"),
    "neuraltextures": ("attribute", "neural-rendering", "NeuralTextures"),
    "stargan": ("attribute", "gan", "StarGAN"),
    "starganv2": ("attribute", "gan", "StarGAN v2"),
    "stargan2": ("attribute", "gan", "StarGAN v2"),
    "attgan": ("attribute", "gan", "AttGAN"),
    "stgan": ("attribute", "gan", "STGAN"),
    "lattrans": ("attribute", "gan", "Latent Transformer"),
    "iafaces": ("attribute", "gan", "IA-FaceS"),
    "diffae": ("attribute", "diffusion", "Diffusion Autoencoders"),
}


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _given(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def build_prompt(fake: bool, category: str | None = None, family: str | None = None,
                 method: str | None = None) -> tuple[str, str, str, str]:
    """The four level sentences for one sample.

    Real faces get fixed real sentences whatever else is given. For fakes, explicit labels win; a known `method`
    fills a missing category / family (`METHODS`); an unknown method name is used verbatim at level 4; a missing
    level gets a generic "unknown" sentence. An unknown family is phrased as "the {family}-based model"; an unknown
    category is an error (the paper's three categories are a closed set).
    """
    if not fake:
        return (LEVEL1[False], *REAL_LEVELS)
    category, family, method = _given(category), _given(family), _given(method)
    known = METHODS.get(_key(method)) if method else None
    if category is None and known:
        category = known[0]
    if family is None and known:
        family = known[1]
    if category is not None:
        canonical = _CATEGORY_ALIASES.get(_key(category))
        if canonical is None:
            raise ValueError(f"unknown forgery category {category!r}; expected one of {sorted(CATEGORY_TEXT)}")
        level2 = CATEGORY_TEXT[canonical]
    else:
        level2 = UNKNOWN_FAKE_LEVELS[0]
    if family is not None:
        canonical = _FAMILY_ALIASES.get(_key(family))
        level3 = FAMILY_TEXT[canonical] if canonical else f"a photo generated by the {family}-based model"
    else:
        level3 = UNKNOWN_FAKE_LEVELS[1]
    if method is not None:
        level4 = f"a photo generated by {known[2] if known else method}"
    else:
        level4 = UNKNOWN_FAKE_LEVELS[2]
    return (LEVEL1[True], level2, level3, level4)


def build_prompts(labels: Labels) -> list[tuple[str, str, str, str]]:
    """`build_prompt` for every sample of a batch of `Labels` (missing per-sample fields are None)."""
    fake = [bool(v) for v in torch.as_tensor(labels.fake).reshape(-1).tolist()]
    n = len(fake)

    def column(values, name):
        if values is None:
            return [None] * n
        if len(values) != n:
            raise ValueError(f"labels.{name} has {len(values)} entries for {n} samples")
        return list(values)

    cats, fams, meths = column(labels.category, "category"), column(labels.family, "family"), column(
        labels.method, "method")
    return [build_prompt(f, c, fa, m) for f, c, fa, m in zip(fake, cats, fams, meths, strict=True)]


REFERENCE_PROMPTS = (build_prompt(False), build_prompt(True))  # (real, fake) prompts for the similarities


# ----------------------------------------------------------------------------------------------------------------------
# Fine-grained language encoder (FLE)
# ----------------------------------------------------------------------------------------------------------------------


class FineGrainedLanguageEncoder(nn.Module):
    """CLIP's text tower (pretrained weights copied) over the concatenated level sentences; pooled at the final EOT."""

    levels = 4

    def __init__(self, clip: nn.Module, tokenizer):
        super().__init__()
        missing = [a for a in ("transformer", "token_embedding", "positional_embedding", "ln_final",
                               "text_projection") if getattr(clip, a, None) is None]
        if missing:
            raise ModelError(f"MFCLIP needs a CLIP-style text tower; the backbone lacks {', '.join(missing)}")
        # The token table (vocab x width: most of a small text tower's parameters) is the backbone's own, frozen and
        # shared rather than copied: fine-tuning it on a handful of prompt words only moves those rows, and a copy
        # would double the text tower's size on disk. Held in a tuple so it is not registered (nor saved) twice.
        self._token_table = (clip.token_embedding,)
        self.positional_embedding = nn.Parameter(clip.positional_embedding.detach().clone())
        self.transformer = copy.deepcopy(clip.transformer)
        self.ln_final = copy.deepcopy(clip.ln_final)
        proj = clip.text_projection
        self.text_projection = copy.deepcopy(proj) if isinstance(proj, nn.Module) else nn.Parameter(
            proj.detach().clone())
        self.level_embedding = nn.Parameter(torch.zeros(self.levels, self.positional_embedding.shape[1],
                                                        dtype=self.positional_embedding.dtype,
                                                        device=self.positional_embedding.device))
        self.context_length = int(self.positional_embedding.shape[0])
        self._tokenizer = tokenizer
        self._eot_id = getattr(tokenizer, "eot_token_id", None)
        self._sentence_cache: dict[str, list[int]] = {}
        self._prompt_cache: dict[tuple[str, ...], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def sentence_tokens(self, sentence: str) -> list[int]:
        """Token ids of one sentence from its start token up to and including its end token (cached)."""
        ids = self._sentence_cache.get(sentence)
        if ids is None:
            row = self._tokenizer([sentence])[0].tolist()
            eot = row.index(self._eot_id) if self._eot_id in row else max(range(len(row)), key=row.__getitem__)
            ids = row[:eot + 1]
            if len(ids) > self.context_length:  # keep the end token within CLIP's positions
                ids = ids[:self.context_length - 1] + ids[-1:]
            self._sentence_cache[sentence] = ids
        return ids

    def prompt_tokens(self, prompt: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(token ids, positions, level index) of the concatenated sentences of one prompt (cached)."""
        cached = self._prompt_cache.get(prompt)
        if cached is None:
            if len(prompt) != self.levels:
                raise ValueError(f"a prompt has {self.levels} level sentences, got {len(prompt)}")
            ids, pos, lvl = [], [], []
            for level, sentence in enumerate(prompt):
                tokens = self.sentence_tokens(sentence)
                ids += tokens
                pos += range(len(tokens))
                lvl += [level] * len(tokens)
            cached = (torch.tensor(ids), torch.tensor(pos), torch.tensor(lvl))
            self._prompt_cache[prompt] = cached
        return cached

    def forward(self, prompts: list[tuple[str, ...]]) -> torch.Tensor:
        """(P, embed_dim) features of P prompts."""
        device = self.positional_embedding.device
        parts = [self.prompt_tokens(tuple(p)) for p in prompts]
        lengths = torch.tensor([len(ids) for ids, _, _ in parts], device=device)
        length = int(lengths.max())
        ids = torch.zeros(len(parts), length, dtype=torch.long)
        pos = torch.zeros_like(ids)
        lvl = torch.zeros_like(ids)
        for row, (i, p, v) in enumerate(parts):
            ids[row, :len(i)], pos[row, :len(p)], lvl[row, :len(v)] = i, p, v
        ids, pos, lvl = ids.to(device), pos.to(device), lvl.to(device)
        x = self._token_table[0](ids) + self.positional_embedding[pos] + self.level_embedding[lvl]
        mask = torch.full((length, length), float("-inf"), device=device, dtype=x.dtype).triu(1)
        x = self.transformer(x, attn_mask=mask)
        x = self.ln_final(x)
        x = x[torch.arange(len(parts), device=device), lengths - 1]   # the last end token: sees all 4 levels
        proj = self.text_projection
        return proj(x) if isinstance(proj, nn.Module) else x @ proj

    def state_key(self) -> tuple:
        """Changes whenever any parameter is updated in place, reloaded or moved (cache invalidation)."""
        return tuple((p.data_ptr(), p._version, p.dtype) for p in self.parameters())


# ----------------------------------------------------------------------------------------------------------------------
# Vision encoders and SPA
# ----------------------------------------------------------------------------------------------------------------------


def _heads(width: int) -> int:
    heads = max(1, width // 64)
    return heads if width % heads == 0 else 1


def _groups(channels: int) -> int:
    return 8 if channels % 8 == 0 else 1


def _transformer(width: int, blocks: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(width, _heads(width), 4 * width, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, blocks, enable_nested_tensor=False)


def _conv_block(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.GroupNorm(_groups(c_out), c_out), nn.GELU()]


class _CellTransformer(nn.Module):
    """Shared tail of both conv encoders: (N, C, h, w) feature cells -> tokens + class token + positions ->
    transformer blocks -> class token -> d."""

    def __init__(self, channels: int, cells: int, width: int, blocks: int, out_dim: int):
        super().__init__()
        self.proj = nn.Linear(channels, width)
        self.class_token = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.position = nn.Parameter(torch.randn(1, 1 + cells, width) * 0.02)
        self.blocks = _transformer(width, blocks)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, out_dim)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        x = self.proj(cells.flatten(2).transpose(1, 2))      # (N, h*w, width)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.position
        return self.out(self.norm(self.blocks(x)[:, 0]))


class NoiseEncoder(nn.Module):
    """SRM map (N, 3, p, p) -> CNN -> (N, c, h, w) -> h*w tokens -> B transformer blocks -> class token -> d."""

    def __init__(self, out_dim: int, width: int = 256, blocks: int = 3, channels: int = 64, grid: int = 8):
        super().__init__()
        c = channels
        self.cnn = nn.Sequential(
            *_conv_block(3, max(1, c // 4)),
            *_conv_block(max(1, c // 4), max(1, c // 2), stride=2),
            *_conv_block(max(1, c // 2), c, stride=2),
            *_conv_block(c, c),
            nn.AdaptiveAvgPool2d(grid),
        )
        self.head = _CellTransformer(c, grid * grid, width, blocks, out_dim)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.head(self.cnn(noise / TRUNCATION))


class CViTEncoder(nn.Module):
    """From-scratch convolutional ViT (CViT-style): 4 conv stages to stride 16, transformer over the cells, class
    token -> d. Used when ``image_encoder`` is "cvit"."""

    def __init__(self, image_size: int, out_dim: int, width: int = 256, layers: int = 4):
        super().__init__()
        chans = (32, 64, 128, 256)
        stages: list[nn.Module] = []
        c_in, size = 3, image_size
        for c in chans:
            stages += [*_conv_block(c_in, c), *_conv_block(c, c), nn.MaxPool2d(2)]
            c_in, size = c, size // 2
        if size < 1:
            raise ModelError(f"the cvit image encoder needs crops of at least 16 px, got {image_size}")
        self.features = nn.Sequential(*stages)
        self.head = _CellTransformer(chans[-1], size * size, width, layers, out_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class SamplePairAttention(nn.Module):
    """SPA with bilinear pair weights sigma(x_i^T W t_j) for any batch size, and the L_cmc of eqs. 9-12."""

    max_logit_scale = math.log(100.0)

    def __init__(self, dim: int, tau_init: float = 0.07, renormalize: bool = False):
        super().__init__()
        if not 0.0 < tau_init <= 1.0:
            raise ModelError(f"tau_init must be in (0, 1], got {tau_init}")
        self.weight = nn.Parameter(torch.zeros(dim, dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / tau_init)))  # log(1 / tau)
        self.renormalize = bool(renormalize)

    @property
    def tau(self) -> torch.Tensor:
        return torch.exp(-self.logit_scale.clamp(max=self.max_logit_scale))

    def log_matrices(self, x_v: torch.Tensor, t_l: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log S_v2l, log S_l2v, A), each b x b: S_v2l[i, j] pairs image i with text j, S_l2v[i, j] text i with
        image j, A[i, j] = x_i^T W t_j."""
        x = F.normalize(x_v, dim=-1)
        t = F.normalize(t_l, dim=-1)
        logits = x @ t.T / self.tau                        # sim(x_i, t_j) / tau
        a = x @ self.weight @ t.T                          # A_ij
        log_w = F.logsigmoid(a)
        if self.renormalize:
            return F.log_softmax(logits + log_w, dim=1), F.log_softmax(logits.T + log_w.T, dim=1), a
        return F.log_softmax(logits, dim=1) + log_w, F.log_softmax(logits.T, dim=1) + log_w.T, a

    def matrices(self, x_v: torch.Tensor, t_l: torch.Tensor) -> dict[str, torch.Tensor]:
        """S_v2l, S_l2v and the pair weights sigma(A), each b x b (for inspection and tests)."""
        log_v2l, log_l2v, a = self.log_matrices(x_v, t_l)
        return {"v2l": log_v2l.exp(), "l2v": log_l2v.exp(), "weights": torch.sigmoid(a)}

    def forward(self, x_v: torch.Tensor, t_l: torch.Tensor) -> torch.Tensor:
        log_v2l, log_l2v, _ = self.log_matrices(x_v, t_l)
        return -(log_v2l.diagonal().mean() + log_l2v.diagonal().mean()) / 2


@functools.cache
def _area_weights(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) weights of OpenCV's INTER_AREA shrink, times n_in: each output pixel is the mean of the input
    pixels it covers, a partly covered one weighted by the fraction covered. Scaled so that every weight is a
    whole number (float64), which keeps the sums exact and their halves halves."""
    edges = torch.arange(n_out + 1, dtype=torch.int64) * n_in       # pixel edges in units of 1 / n_out
    left = torch.arange(n_in, dtype=torch.int64) * n_out
    overlap = torch.minimum(edges[1:, None], left[None] + n_out) - torch.maximum(edges[:-1, None], left[None])
    return overlap.clamp(min=0).double()


def area_shrink(faces: torch.Tensor, side: int) -> torch.Tensor:
    """(N, 3, S, S) crops in [0, 1] -> (N, 3, side, side), the pixels cv2.resize(INTER_AREA) gives for the 8-bit
    image: exact sums of the 8-bit levels, divided and rounded as OpenCV does. Why exactly that: the
    towers were trained on faces shrunk by OpenCV, and they read such fine traces that a plain average pooling
    (torch's "area") of the same crops took a frozen tower's AUC on 300 FF++ training faces from 0.94 to 0.56,
    and exact weights left in float (no rounding to 8-bit levels) to 0.82."""
    n_in = faces.shape[-1]
    work = faces if faces.device.type in ("cpu", "cuda") else faces.cpu()   # float64 may be missing (e.g. MPS)
    weights = _area_weights(n_in, side).to(work.device)
    pixels = (work.double() * 255).round_()   # the 8-bit levels the crop holds (k / 255 is inexact in float32)
    sums = torch.einsum("oh,nchw,pw->ncop", weights, pixels, weights)
    means = sums / (n_in * n_in)
    # OpenCV rounds halves up on its whole-number-ratio path (resizeAreaFast), to even on the general one
    levels = (means + 0.5).floor_() if n_in % side == 0 else means.round_()
    return (levels / 255).to(device=faces.device, dtype=faces.dtype)


# ----------------------------------------------------------------------------------------------------------------------
# The detector
# ----------------------------------------------------------------------------------------------------------------------


@register_detector("mfclip")
class MFCLIPDetector(Detector):
    """MFCLIP on a shared CLIP backbone; see the module docstring for the architecture and design decisions."""

    default_config = {
        "patch_size": None,              # richest-patch size p; None = input_size // 2 (112 on 224 crops)
        "noise_input_size": None,        # crop side the detector takes; None = the backbone's (see the docstring)
        "image_encoder": "clip",         # "clip" (copy of the backbone's visual tower) | "cvit" (from scratch)
        "freeze_image_encoder": False,
        "freeze_text_encoder": False,
        "noise_width": 256,              # noise transformer width
        "noise_blocks": 3,               # B
        "noise_channels": 64,            # c
        "noise_grid": 8,                 # h = w
        "cvit_width": 256,
        "cvit_layers": 4,
        "kl_temperature": 0.5,
        "tau_init": 0.07,
        "spa_renormalize": False,        # False: eqs. 9-12 as written; True: renormalise the weighted rows
        "ce_weight": 1.0,
        "kl_weight": 1.0,
        "cmc_weight": 1.0,
    }

    def __init__(self, backbone, config: dict):
        super().__init__(backbone, {**self.default_config, **config})
        cfg = self.config
        wide = cfg["noise_input_size"]
        if wide is not None and (not isinstance(wide, int) or wide < backbone.image_size):
            raise ModelError(f"mfclip: noise_input_size must be None or an integer >= the backbone's crop size "
                             f"{backbone.image_size}, got {wide!r}")
        dim, size = backbone.embed_dim, self.input_size
        patch = cfg["patch_size"] if cfg["patch_size"] is not None else size // 2
        if not isinstance(patch, int) or not 3 <= patch <= size:
            raise ModelError(f"mfclip: patch_size must be an integer in [3, {size}], got {cfg['patch_size']!r}")
        self.patch_size = patch
        if cfg["kl_temperature"] <= 0:
            raise ModelError(f"mfclip: kl_temperature must be positive, got {cfg['kl_temperature']}")

        if cfg["image_encoder"] == "clip":
            self.image_encoder = copy.deepcopy(self.clip.visual)
        elif cfg["image_encoder"] == "cvit":
            self.image_encoder = CViTEncoder(backbone.image_size, dim, cfg["cvit_width"], cfg["cvit_layers"])
        else:
            raise ModelError(f"mfclip: image_encoder must be 'clip' or 'cvit', got {cfg['image_encoder']!r}")
        self.image_encoder.requires_grad_(not cfg["freeze_image_encoder"])
        self.srm = SRMFilter()
        self.noise_encoder = NoiseEncoder(dim, cfg["noise_width"], cfg["noise_blocks"], cfg["noise_channels"],
                                          cfg["noise_grid"])
        self.text_encoder = FineGrainedLanguageEncoder(self.clip, backbone.tokenizer)
        self.text_encoder.requires_grad_(not cfg["freeze_text_encoder"])
        self.head = nn.Linear(dim, 2)
        self.predictor = nn.Linear(dim, dim)
        self.spa = SamplePairAttention(dim, cfg["tau_init"], cfg["spa_renormalize"])
        device = next(self.clip.parameters()).device
        self.to(device)
        self._text_cache: dict[tuple[str, ...], torch.Tensor] = {}
        self._text_cache_key: tuple | None = None

    @property
    def input_size(self) -> int:
        return self.config["noise_input_size"] or self.backbone.image_size

    def train(self, mode: bool = True) -> MFCLIPDetector:
        super().train(mode)
        if self.config["freeze_image_encoder"]:  # frozen means frozen: no BatchNorm statistics drift either
            self.image_encoder.eval()
        return self

    # -- text ----------------------------------------------------------------------------------------------------------

    def text_features(self, prompts: list[tuple[str, ...]]) -> torch.Tensor:
        """T_l (len(prompts), d): the FLE runs once per distinct prompt; cached when no gradient is needed."""
        unique = list(dict.fromkeys(tuple(p) for p in prompts))
        needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.text_encoder.parameters())
        if needs_grad:
            features = self.text_encoder(unique)
        else:
            key = self.text_encoder.state_key()
            if key != self._text_cache_key:
                self._text_cache, self._text_cache_key = {}, key
            missing = [p for p in unique if p not in self._text_cache]
            if missing:
                with torch.no_grad():
                    for prompt, feature in zip(missing, self.text_encoder(missing), strict=True):
                        self._text_cache[prompt] = feature
            features = torch.stack([self._text_cache[p] for p in unique])
        index = {p: i for i, p in enumerate(unique)}
        rows = torch.tensor([index[tuple(p)] for p in prompts], device=features.device)
        return features[rows]

    # -- vision --------------------------------------------------------------------------------------------------------

    def _check_faces(self, faces: torch.Tensor) -> None:
        size = self.input_size
        if faces.ndim != 4 or faces.shape[1] != 3 or faces.shape[-2:] != (size, size):
            raise ValueError(f"mfclip expects N x 3 x {size} x {size} crops, got {tuple(faces.shape)}")

    def select_patches(self, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(boxes (N, 4) int64, homogeneity of the chosen patch (N,) float32), on the faces' device."""
        with torch.no_grad():
            source = faces.detach()
            if source.device.type not in ("cpu", "cuda"):   # float64 may be missing (e.g. MPS): select on the CPU
                source = source.cpu()
            boxes, homogeneity = richest_patch(source, self.patch_size)
            chosen = homogeneity.gather(1, homogeneity.argmin(dim=1, keepdim=True))[:, 0]
        return boxes.to(faces.device), chosen.float().to(faces.device)

    def _image_encoder_view(self, faces: torch.Tensor) -> torch.Tensor:
        """The crops at the image encoder's size, shrunk as the backbone's training faces were (`area_shrink`)."""
        side = self.backbone.image_size
        return faces if faces.shape[-1] == side else area_shrink(faces, side)

    def encode_visual(self, faces: torch.Tensor) -> dict[str, torch.Tensor]:
        """X_v plus the patch selector's outputs."""
        self._check_faces(faces)
        boxes, homogeneity = self.select_patches(faces)
        noise = self.srm(crop_patches(faces, boxes, self.patch_size))
        x_i = self.image_encoder(self.normalize(self._image_encoder_view(faces)))
        n_n = self.noise_encoder(noise)
        return {"x_v": x_i + n_n, "patch_box": boxes, "srm": noise, "patch_homogeneity": homogeneity}

    # -- Detector API --------------------------------------------------------------------------------------------------

    def forward(self, faces: torch.Tensor) -> DetectorOutput:
        visual = self.encode_visual(faces)
        x_v = visual["x_v"]
        p_fake = torch.softmax(self.head(x_v), dim=-1)[:, 1]
        with torch.no_grad():
            reference = F.normalize(self.text_features(list(REFERENCE_PROMPTS)), dim=-1)
        similarities = F.normalize(self.predictor(x_v), dim=-1) @ reference.to(x_v.dtype).T
        return DetectorOutput(
            p_fake=p_fake,
            similarities={"real": similarities[:, 0], "fake": similarities[:, 1]},
            attention=None,
            extras={"patch_box": visual["patch_box"], "srm": visual["srm"],
                    "patch_homogeneity": visual["patch_homogeneity"]},
        )

    def loss(self, faces: torch.Tensor, labels: Labels) -> dict[str, torch.Tensor]:
        cfg = self.config
        prompts = build_prompts(labels)
        if len(prompts) != faces.shape[0]:
            raise ValueError(f"{len(prompts)} labels for {faces.shape[0]} faces")
        x_v = self.encode_visual(faces)["x_v"]
        target = torch.as_tensor(labels.fake).reshape(-1).to(device=x_v.device, dtype=torch.long)
        ce = F.cross_entropy(self.head(x_v), target)
        t_l = self.text_features(prompts).to(x_v.dtype)
        temperature = cfg["kl_temperature"]
        kl = F.kl_div(F.log_softmax(self.predictor(x_v) / temperature, dim=-1),
                      F.log_softmax(t_l.detach() / temperature, dim=-1), log_target=True, reduction="batchmean")
        cmc = self.spa(x_v, t_l)
        total = cfg["ce_weight"] * ce + cfg["kl_weight"] * kl + cfg["cmc_weight"] * cmc
        return {"ce": ce, "kl": kl, "cmc": cmc, "total": total}
