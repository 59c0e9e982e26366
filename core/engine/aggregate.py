"""Turn per-face, per-frame scores into per-identity scores and a video verdict.

The default rule is the mean of an identity's frame scores (DeepfakeBench's video-level protocol). The video is fake
if any identity is: one forged face is enough to make the footage a forgery.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from core.results import FrameRecord, IdentityScore

RULES = ("mean", "median", "max", "top25")


def identity_scores(frames: list[FrameRecord], rule: str = "mean") -> list[IdentityScore]:
    if rule not in RULES:
        raise ValueError(f"unknown aggregation rule {rule!r}; choose one of {', '.join(RULES)}")
    per_identity: dict[int, list[float]] = defaultdict(list)
    for frame in frames:
        for face in frame.faces:
            per_identity[face.identity].append(face.score)
    return [IdentityScore(id=identity, score=_combine(np.asarray(scores), rule), frames=len(scores))
            for identity, scores in sorted(per_identity.items())]


def _combine(scores: np.ndarray, rule: str) -> float:
    if rule == "mean":
        return float(scores.mean())
    if rule == "median":
        return float(np.median(scores))
    if rule == "max":
        return float(scores.max())
    top = np.sort(scores)[::-1][: max(1, int(np.ceil(len(scores) * 0.25)))]
    return float(top.mean())


def video_verdict(identities: list[IdentityScore], threshold: float) -> tuple[float | None, str]:
    if not identities:
        return None, "no-face"
    score = max(i.score for i in identities)
    return score, ("fake" if score >= threshold else "real")
