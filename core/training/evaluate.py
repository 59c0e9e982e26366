"""Evaluate a model folder on labelled data: the run's own test split when the data is the data it was trained
on (never its train or validation files), otherwise every file given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.errors import BadInputError
from core.models import load_model, read_bundle
from core.paths import data_dir
from core.training.dataset import load_samples
from core.training.examples import gather
from core.training.facecache import CacheSettings, FaceCache
from core.training.metrics import video_scores
from core.training.splits import load_split
from core.training.trainer import TrainConfig, Trainer, evaluate_examples, score_metrics


def _same_faces(sets: list) -> bool:
    """Whether example sets cut at different sizes hold the same faces in the same order (labels, methods, videos)."""
    first = sets[0]
    return all(torch.equal(other.fake, first.fake) and list(other.methods) == list(first.methods)
               and list(other.videos) == list(first.videos) for other in sets[1:])


def evaluate(data: str | Path, model_dir: str | Path, *, device: str = "auto", frames_per_video: int = 16,
             aligned: bool = False, sbi_copies: int = 0, cache_dir: str | Path | None = None,
             batch_size: int = 32, keep_scores: bool = False, keep_face_scores: bool = False) -> dict:
    """Metrics per detector and, with two or more detectors, for the mean of their scores ("mean").

    `keep_scores` adds each video's score (mean of its frame scores) per detector, for reports on small sets;
    `keep_face_scores` each face's score and, once, each face's label and method ("faces"), for comparing two
    models face by face (the faces and pseudo-fakes come out in the same order for any model on the same data).
    """
    bundle = read_bundle(model_dir)
    samples, root = load_samples(data)
    split_file = Path(model_dir) / "split.json"
    part = "all"
    if split_file.is_file():
        split = load_split(split_file, root=str(root), verify=False)
        test_paths = {str(Path(s.path).resolve()) for s in split["test"]}
        seen = {str(Path(s.path).resolve()) for part_name in ("train", "val") for s in split[part_name]}
        by_path = {str(Path(s.path).resolve()): s for s in samples}
        if test_paths & set(by_path):
            samples, part = [by_path[p] for p in sorted(test_paths & set(by_path))], "test"
        else:
            samples = [s for p, s in by_path.items() if p not in seen]
            part = "unseen"
    if not samples:
        raise BadInputError("no evaluation samples left (all were used for training)", path=str(data))
    runner = Trainer(data, model_dir, TrainConfig(device=device, batch_size=batch_size, mirror=bundle.mirror),
                     cache_dir=cache_dir)
    model = load_model(bundle, list(bundle.detectors), device=runner.device)
    cache = FaceCache(cache_dir or data_dir() / "facecache",
                      CacheSettings(sampling=_sampling(frames_per_video), assume_aligned=aligned,
                                    margin=bundle.crop_margin, jpeg=bundle.jpeg,
                                    landmarks=sbi_copies > 0))
    cache.build(samples)
    out: dict = {"model": str(model_dir), "data": str(data), "split": part, "files": len(samples), "test": {}}
    scored, by_size = {}, {}
    for name, detector in model.detectors.items():
        if detector.input_size not in by_size:   # detectors on one backbone share the crops (and pseudo-fakes)
            by_size[detector.input_size] = gather(samples, cache, detector.input_size, sbi_copies=sbi_copies,
                                                  seed=1234, stored_as=bundle.jpeg, fit=bundle.fit)
        examples = by_size[detector.input_size]
        if len(set(examples.fake.tolist())) < 2:
            raise BadInputError("evaluation needs faces of both classes", path=str(data))
        with torch.no_grad():
            out["test"][name] = evaluate_examples(detector, examples, bundle.threshold(name), runner)
        scored[name] = examples
    if len(scored) > 1 and _same_faces(list(by_size.values())):   # crops of one face at each detector's size
        examples = next(iter(scored.values()))
        mean = np.mean([out["test"][name]["scores"] for name in scored], axis=0)
        threshold = float(np.mean([bundle.threshold(name) for name in scored]))
        out["test"]["mean"] = score_metrics(examples, mean, threshold)
        scored["mean"] = examples
    for name, examples in scored.items():
        result = out["test"][name]
        scores = result.pop("scores")
        if keep_face_scores:
            result["face_scores"] = scores.tolist()
            out["faces"] = {"fake": examples.fake.tolist(), "methods": list(examples.methods)}
        if keep_scores:
            ids, _, per_video = video_scores(examples.videos, examples.fake.numpy(), scores)
            result["video_scores"] = {str(v): float(s) for v, s in zip(ids, per_video, strict=True)}
        out[f"test_{name}_frame_auc"] = result["frame"]["auc"]
        out[f"test_{name}_video_auc"] = result["video"]["auc"]
    return out


def _sampling(frames: int):
    from core.media import Sampling

    return Sampling("count", float(frames))
