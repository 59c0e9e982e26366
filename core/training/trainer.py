"""Fine-tune one detector on a labelled folder (or CSV manifest) and evaluate it honestly.

    data -> leak-free split (saved) -> face cache (detection once per file) -> crops in memory (+ SBI fakes)
         -> epochs (AdamW, warm-up + cosine, AMP on GPU, clipping) -> validation AUC each epoch
         -> atomic checkpoint every epoch (resumable) -> best epoch as a model folder -> test-split metrics.

HAMLET's backbone is frozen, so its multi-level features are computed once per crop (during the first epoch) and
every later epoch costs only the plugin. MFCLIP trains end to end. The run directory is itself a model folder
(`model.json`) that `ffd analyze --model RUN_DIR` and the GUI can use.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from core.atomic import atomic_write_text
from core.backbones import Backbone, BackboneSpec, load_backbone
from core.detectors.checkpoint import state_for_file
from core.detectors.registry import build_detector
from core.engine.device import autocast, select_device
from core.errors import BadInputError, CancelledError, FFDError
from core.faces.align import FITS
from core.models import DEFAULT_CROP_MARGIN, read_bundle, save_model
from core.paths import data_dir
from core.training import metrics
from core.training.augment import AugmentConfig, augment_batch
from core.training.dataset import Sample, load_samples
from core.training.examples import Examples, block_windows, check_copies, cut_windows, gather
from core.training.facecache import CacheSettings, FaceCache
from core.training.splits import save_split, split_report, split_samples
from core.training.state import load_state, save_state

TRAINED_BACKBONE = "trained_backbone.safetensors"


@dataclass
class TrainConfig:
    detector: str = "hamlet"
    backbone: str | None = None          # BackboneSpec text; None: the default model's backbone
    random_backbone: bool = False        # explicit opt-in to a randomly initialised backbone (from-scratch work)
    detector_config: dict = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 32
    lr: float | None = None              # None: 1e-3 for hamlet (plugin only), 1e-4 for mfclip (end to end)
    weight_decay: float = 0.01
    warmup_epochs: float = 0.5
    grad_clip: float = 1.0
    patience: int = 3                    # epochs without validation-AUC gain before stopping
    seed: int = 0
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    frames_per_video: int = 16
    sbi_copies: int = 0                  # self-blended pseudo-fakes per real crop (0: none)
    sbi_fresh: bool = False              # new training self-blends every epoch (validation / test ones stay fixed)
    aligned: bool = False                # the data are already face crops (skip face detection)
    max_files: int | None = None         # use at most this many files per label (quick runs)
    device: str = "auto"
    half_weights: bool = False           # store checkpoints (and an exported backbone) as float16: half the size
    augment: bool | dict = False         # fresh JPEG / blur / colour / zoom each epoch (core.training.augment);
                                         # a dict overrides AugmentConfig's strengths
    crop_margin: float = DEFAULT_CROP_MARGIN  # face crop side / detector box side; the model records it
    crop_jpeg: tuple[int, int] | None = None  # (side, quality) the faces are stored as: detected crops and
                                              # self-blends are stored so too, and the model records it
    crop_fit: str = "resize"             # stored face -> input: "resize", or "centre" (its middle pixels, unresized)
    crop_jitter: int = 0                 # with "centre": training windows move up to this many px (whole 8 px JPEG
                                         # blocks) off the centre, drawn per crop each batch; val / test stay centred
    paired_batches: bool = False         # keep a scene's real and fake crops in one batch (Examples.grouped_order)
    oversample: dict = field(default_factory=dict)  # method -> times each of its training crops is seen per
                                                    # epoch (Examples.repeated); validation and test stay as they are
    mirror: bool = False                 # score each face and its mirror image and average (validation, test and
                                         # the model: core.detectors.base.score_faces); training is unchanged

    def augmentation(self) -> AugmentConfig | None:
        """The per-epoch augmentation, None when off; a misspelt strength is refused before any data is read."""
        if self.augment is False or self.augment is None:
            return None
        if self.augment is True:
            return AugmentConfig()
        known = {f.name for f in fields(AugmentConfig)}
        if not isinstance(self.augment, dict) or set(self.augment) - known:
            raise BadInputError(f"augment must be true or a dict of {sorted(known)}, not {self.augment!r}")
        return AugmentConfig(**self.augment)

    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else {"hamlet": 1e-3, "clip": 3e-4}.get(self.detector, 1e-4)


@dataclass
class TrainProgress:
    stage: str                           # "preparing" | "training" | "validating" | "testing" | "done"
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    loss: float | None = None
    val_auc: float | None = None
    eta_s: float | None = None
    message: str = ""


ProgressFn = Callable[[TrainProgress], None]
CancelFn = Callable[[], bool]


def data_hash(samples: list[Sample], cache: FaceCache) -> str:
    """SHA-256 over the sorted (file SHA-256, label, method) of every sample: names the exact training data."""
    digest = hashlib.sha256()
    for line in sorted(f"{cache.file_sha256(s.path)} {s.label} {s.method or ''}" for s in samples):
        digest.update(line.encode())
    return digest.hexdigest()


class Trainer:
    def __init__(self, data: str | Path, run_dir: str | Path, config: TrainConfig,
                 progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                 cache_dir: str | Path | None = None):
        self.data, self.run_dir, self.config = Path(data), Path(run_dir), config
        self.report = progress or (lambda p: None)
        self.cancelled = cancel or (lambda: False)
        self.cache_dir = Path(cache_dir) if cache_dir else data_dir() / "facecache"
        self.augment = config.augmentation()
        self.windows: tuple[int, list[int]] | None = None   # (side, starts) of jittered training windows
        if config.crop_fit not in FITS or (config.crop_fit != "resize" and not config.crop_jpeg):
            raise BadInputError(f"crop_fit must be one of {FITS} ('centre' only with crop_jpeg: the stored side is "
                                f"what a model records), got {config.crop_fit!r}")
        if config.crop_jitter and (config.crop_fit != "centre" or config.crop_jitter < 0 or config.crop_jitter % 8):
            raise BadInputError("crop_jitter must be a whole number of 8 px JPEG blocks and needs crop_fit 'centre' "
                                f"(the window keeps the block grid), got {config.crop_jitter!r}")
        check_copies(config.oversample)
        if not isinstance(config.mirror, bool):
            raise BadInputError(f"mirror must be true or false, got {config.mirror!r}")
        self.device = select_device(config.device)

    # -------------------------------------------------------------------------------------------- setup
    def _backbone(self) -> Backbone:
        cfg = self.config
        if cfg.backbone:
            spec = BackboneSpec.parse(cfg.backbone)
        else:
            from core.models import resolve_bundle

            spec = resolve_bundle(None).backbone
        return load_backbone(spec, device=self.device, allow_random=cfg.random_backbone)

    def _prepare(self) -> dict:
        cfg = self.config
        self.report(TrainProgress("preparing", message="reading data"))
        samples, root = load_samples(self.data, cfg.max_files, cfg.seed)
        split = split_samples(samples, cfg.fractions, seed=cfg.seed)
        save_split(split, self.run_dir / "split.json", root=str(root),
                   meta={"fractions": list(cfg.fractions), "seed": cfg.seed})
        settings = CacheSettings(sampling=_video_sampling(cfg.frames_per_video), assume_aligned=cfg.aligned,
                                 margin=cfg.crop_margin, jpeg=cfg.crop_jpeg,
                                 landmarks=cfg.sbi_copies > 0)
        self.cache = FaceCache(self.cache_dir, settings)

        def cache_progress(done: int, total: int) -> None:
            self.report(TrainProgress("preparing", step=done, steps=total, message="extracting faces"))

        stats = self.cache.build(samples, progress=cache_progress, cancel=self.cancelled)
        return {"samples": samples, "split": split, "cache_stats": stats.to_dict(), "root": root}

    # -------------------------------------------------------------------------------------------- train
    def run(self, resume: bool = True) -> dict:
        cfg = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        prepared = self._prepare()
        resuming = resume and (self.run_dir / "trainer_state.json").exists()
        # A resumed run continues on the backbone it started with, as its model folder recorded it (a random
        # initialisation is identified by the file it was saved to at the first epoch).
        backbone = (load_backbone(read_bundle(self.run_dir).backbone, device=self.device) if resuming
                    else self._backbone())
        torch.manual_seed(cfg.seed)
        detector = build_detector(cfg.detector, backbone, cfg.detector_config).to(self.device)
        size = detector.input_size
        # a detector on a frozen backbone trains on features computed once: its windows cannot move
        jitter = 0 if hasattr(detector, "backbone_features") else cfg.crop_jitter
        if jitter and size + 2 * jitter > cfg.crop_jpeg[0]:
            raise BadInputError(f"crop_jitter {jitter} needs stored faces of at least {size + 2 * jitter} px, "
                                f"not {cfg.crop_jpeg[0]}")
        sets = {name: gather(prepared["split"][name], self.cache, size + 2 * jitter * (name == "train"),
                             sbi_copies=cfg.sbi_copies, seed=cfg.seed + i, stored_as=cfg.crop_jpeg,
                             keep_blend_sources=cfg.sbi_fresh and name == "train", fit=cfg.crop_fit)
                for i, name in enumerate(("train", "val", "test"))}
        sets["train"] = sets["train"].repeated(cfg.oversample)
        self.windows = block_windows(cfg.crop_jpeg[0], size, jitter) if jitter else None
        for name, ex in sets.items():
            if len(ex) == 0 or len(set(ex.fake.tolist())) < 2:
                raise BadInputError(f"the {name} split has no faces of one class; add data or change fractions",
                                    path=str(self.data))
        params = detector.trainable_parameters()
        optimizer = adamw(params, cfg.learning_rate(), cfg.weight_decay)
        steps_per_epoch = math.ceil(len(sets["train"]) / cfg.batch_size)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _warmup_cosine(int(cfg.warmup_epochs * steps_per_epoch), cfg.epochs * steps_per_epoch))
        scaler = torch.amp.GradScaler("cuda", enabled=self.device.type == "cuda")
        history: list[dict] = []
        start_epoch, best_auc, best_epoch = 1, -1.0, 0
        if resuming:
            info = load_state(self.run_dir, detector, optimizer, scheduler)
            history, best_auc, best_epoch = info["history"], info["best_auc"], info["best_epoch"]
            start_epoch = info["epoch"] + 1
            if info.get("config", {}).get("detector") != cfg.detector:
                raise FFDError("the run folder holds another detector's training; use a new --out folder",
                               path=str(self.run_dir))
        features = _FeatureCache(detector) if hasattr(detector, "backbone_features") else None
        stale = 0
        for epoch in range(start_epoch, cfg.epochs + 1):
            started = time.time()
            loss = self._epoch(detector, sets["train"], optimizer, scheduler, scaler, epoch, features)
            val = self._scores(detector, sets["val"], features, "val")
            val_auc = metrics.frame_metrics(sets["val"].fake.numpy(), val)["auc"]
            history.append({"epoch": epoch, "loss": loss, "val_auc": val_auc, "seconds": time.time() - started})
            improved = val_auc > best_auc
            if improved:
                best_auc, best_epoch, stale = val_auc, epoch, 0
                threshold = metrics.choose_threshold(sets["val"].fake.numpy(), val)
                self._save_model(detector, backbone, threshold, prepared, history, final=False)
            else:
                stale += 1
            save_state(self.run_dir, detector, optimizer, scheduler,
                       {"epoch": epoch, "history": history, "best_auc": best_auc, "best_epoch": best_epoch,
                        "config": asdict(cfg)})
            atomic_write_text(self.run_dir / "history.json", json.dumps(history, indent=1))
            self.report(TrainProgress("validating", epoch, cfg.epochs, loss=loss, val_auc=val_auc))
            if stale >= cfg.patience:
                break
        return self._finish(backbone, sets, prepared, history)

    def _epoch(self, detector, train: Examples, optimizer, scheduler, scaler, epoch: int, features) -> float:
        cfg = self.config
        detector.train()
        shuffle = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        order = train.grouped_order(shuffle) if cfg.paired_batches else torch.randperm(len(train), generator=shuffle)
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        if cfg.sbi_fresh and epoch > 1 and features is None:   # epoch 1: gather's blends; then fresh ones
            train.reblend(np.random.default_rng([cfg.seed, epoch]))
        steps = math.ceil(len(train) / cfg.batch_size)
        total, started = 0.0, time.time()
        for step, (index, crops) in enumerate(self._batches(train, order, steps, rng, features is None)):
            if self.cancelled():
                raise CancelledError("training cancelled; the last completed epoch is saved")
            labels = train.labels(index)
            with autocast(self.device):
                if features is not None:
                    losses = detector.loss_features(features.get("train", train, index, self.device), labels)
                else:
                    faces = crops.to(self.device).float().div_(255.0)
                    flip = torch.rand(len(index), device=self.device) < 0.5
                    faces = torch.where(flip[:, None, None, None], faces.flip(3), faces)
                    losses = detector.loss(faces, labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(losses["total"]).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(detector.trainable_parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            total += float(losses["total"].detach())
            elapsed = time.time() - started
            self.report(TrainProgress("training", epoch, cfg.epochs, step + 1, steps, loss=total / (step + 1),
                                      eta_s=elapsed / (step + 1) * (steps - step - 1)))
        return total / steps

    def _batches(self, train: Examples, order: torch.Tensor, steps: int, rng: np.random.Generator,
                 pixels: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """(indices, augmented uint8 crops) per step. The next step's crops are cut and augmented on worker threads
        while the model trains on this one (a GPU otherwise waits on the CPU); `rng` is drawn from in step order,
        so an epoch is the same however many threads there are."""
        size = self.config.batch_size

        def prepare(step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
            index = order[step * size:(step + 1) * size]
            if not pixels:   # a frozen backbone's detector trains on cached features
                return index, None
            crops = train.crops[index]
            if self.windows is not None:
                crops = cut_windows(crops, self.windows, rng)
            return index, (augment_batch(crops, rng, self.augment, pool) if self.augment else crops)

        with ThreadPoolExecutor(1) as ahead, ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
            pending = ahead.submit(prepare, 0)
            for step in range(steps):
                batch = pending.result()
                if step + 1 < steps:
                    pending = ahead.submit(prepare, step + 1)
                yield batch

    @torch.no_grad()
    def _scores(self, detector, examples: Examples, features, name: str) -> np.ndarray:
        """Each face's fake probability; with `mirror`, the mean of the face's and its mirror image's, as the
        engine scores them, so the threshold is chosen on the scores the model will give."""
        views = [(name, examples)] + ([(f"{name} mirrored", examples.mirrored())] if self.config.mirror else [])
        return np.mean([self._view_scores(detector, view, features, key) for key, view in views], axis=0)

    def _view_scores(self, detector, examples: Examples, features, name: str) -> np.ndarray:
        detector.eval()
        out = []
        for start in range(0, len(examples), self.config.batch_size):
            if self.cancelled():
                raise CancelledError("training cancelled; the last completed epoch is saved")
            index = torch.arange(start, min(start + self.config.batch_size, len(examples)))
            with autocast(self.device):
                if features is not None:
                    result = detector.forward_features(features.get(name, examples, index, self.device))
                else:
                    result = detector(examples.faces(index, self.device))
            out.append(result.p_fake.float().cpu())
        return torch.cat(out).numpy()

    # -------------------------------------------------------------------------------------------- output
    def _save_model(self, detector, backbone, threshold: float, prepared: dict, history: list,
                    final: bool, test_metrics: dict | None = None) -> None:
        cfg = self.config
        card = {
            "detector": cfg.detector,
            "training": {"data": str(self.data), "data_sha256": data_hash(prepared["samples"], self.cache),
                         "split": split_report(prepared["split"]), "hyperparameters": asdict(cfg),
                         "history": history, "finished": final,
                         "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
            "threshold": {"value": threshold, "chosen_on": "validation split (EER point)"},
        }
        if test_metrics:
            card["metrics"] = test_metrics
        save_model(self.run_dir, f"{cfg.detector} trained on {self.data.name}", backbone, {cfg.detector: detector},
                   thresholds={cfg.detector: threshold}, card=card, half=cfg.half_weights,
                   crop_margin=cfg.crop_margin,
                   crop_jpeg=_crop_jpeg(cfg), mirror=cfg.mirror)

    def _finish(self, backbone, sets: dict, prepared: dict, history: list) -> dict:
        from core.detectors.checkpoint import load_detector

        self.report(TrainProgress("testing", message="evaluating the best epoch on the test split"))
        bundle = read_bundle(self.run_dir)
        best = load_detector(bundle.checkpoint(self.config.detector), backbone, device=self.device)
        features = _FeatureCache(best) if hasattr(best, "backbone_features") else None
        threshold = bundle.threshold(self.config.detector)
        test = evaluate_examples(best, sets["test"], threshold, self, features)
        metrics.roc_curve_png(sets["test"].fake.numpy(), test["scores"], self.run_dir / "roc_test.png",
                              title=f"{self.config.detector} test ROC")
        summary = {"test": {k: v for k, v in test.items() if k != "scores"},
                   "best_val_auc": max(h["val_auc"] for h in history), "epochs_run": len(history)}
        if hasattr(best, "export_backbone"):  # stage-1 backbone training: its CLIP becomes a backbone file
            from safetensors.torch import save_file

            from core.atomic import atomic_path

            with atomic_path(self.run_dir / TRAINED_BACKBONE) as tmp:
                save_file(state_for_file(best.export_backbone(), self.config.half_weights), str(tmp))
            summary["backbone"] = f"{backbone.arch}@{self.run_dir / TRAINED_BACKBONE}"
        self._save_model(best, backbone, threshold, prepared, history, final=True, test_metrics=summary)
        self.report(TrainProgress("done", len(history), self.config.epochs, val_auc=summary["best_val_auc"]))
        return summary


def adamw(params: list[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel where the parameters' device has one. Why: on a CPU torch's default is a
    Python loop over the tensors, slowest where steps are small or cores are busy: ffd-dct's image tower, 2 cores,
    20 -> 9 ms a step on an idle machine (of ~950 ms forward and backward), a tiny test tower's epoch 12.8 -> 9.3 s
    beside another training. Same update rule and state dict."""
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def evaluate_examples(detector, examples: Examples, threshold: float, runner, features=None) -> dict:
    return score_metrics(examples, runner._scores(detector, examples, features, "test"), threshold)


def score_metrics(examples: Examples, scores: np.ndarray, threshold: float) -> dict:
    """Frame and video metrics of `scores` on `examples`, per fake method too (plus the pseudo-fakes-vs-reals AUC
    when SBI is there)."""
    labels = examples.fake.numpy()
    result = {"frame": metrics.frame_metrics(labels, scores, threshold),
              "video": metrics.video_metrics(examples.videos, labels, scores, threshold), "scores": scores}
    methods = np.array([m or "" for m in examples.methods], dtype=object)
    masks = metrics.subset_masks(labels, methods)

    def on(mask: np.ndarray) -> dict:
        return metrics.frame_metrics(labels[mask], scores[mask], threshold)

    result["methods"] = {m: on(mask) for m, mask in masks["methods"].items()}  # each method's fakes vs all reals
    if "sbi" in masks:
        result["sbi_frame"], result["frame_no_sbi"] = on(masks["sbi"]), on(masks["own"])  # pseudo / the data's own
    return result


class _FeatureCache:
    """Frozen-backbone features per split, computed on first use and kept (float16) for every later epoch."""

    def __init__(self, detector):
        self.detector = detector
        self.store: dict[str, dict[str, torch.Tensor]] = {}
        self.ready: dict[str, torch.Tensor] = {}

    def get(self, split: str, examples: Examples, index: torch.Tensor, device) -> dict[str, torch.Tensor]:
        if split not in self.store:
            self.store[split] = {}
            self.ready[split] = torch.zeros(len(examples), dtype=torch.bool)
        missing = index[~self.ready[split][index]]
        if len(missing):
            feats = self.detector.backbone_features(examples.faces(missing, device))
            for key, value in feats.items():
                if key not in self.store[split]:
                    self.store[split][key] = torch.zeros((len(examples), *value.shape[1:]), dtype=torch.float16)
                self.store[split][key][missing] = value.detach().to("cpu", torch.float16)
            self.ready[split][missing] = True
        return {k: v[index].to(device) for k, v in self.store[split].items()}


def _video_sampling(frames: int):
    from core.media import Sampling

    return Sampling("count", float(frames))


def _warmup_cosine(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def _crop_jpeg(cfg: TrainConfig) -> dict | None:
    """How the model's faces were stored and fitted, as model.json records it (no "fit" key for the default)."""
    if not cfg.crop_jpeg:
        return None
    stored = dict(zip(("side", "quality"), cfg.crop_jpeg, strict=True))
    return stored if cfg.crop_fit == "resize" else {**stored, "fit": cfg.crop_fit}
