"""Detection metrics as DeepfakeBench reports them: frame AUC / AP / EER, video AUC (mean of the frame scores
of each video), accuracy at a threshold, and a ROC curve image.

Conventions: label 1 = fake (the positive class), 0 = real; a score is p(fake); a sample is called fake when
``score >= threshold`` (the same convention as ``sklearn.metrics.roc_curve``).

EER: the ROC is piecewise linear between its operating points; the EER is where that curve crosses
FPR = FNR (= 1 - TPR), interpolated linearly between the two operating points on either side. Perfectly
separated scores give 0; scores carrying no information (all equal) give 0.5.

Threshold choice (``choose_threshold``): the **EER threshold**, chosen on validation data: of the operating
points the scores actually allow, the one nearest to FPR = FNR (ties: the lower threshold). For an
investigator both errors matter (a forged face passed as real, an honest face called forged), so the verdict
threshold balances the two error *rates* instead of optimising accuracy on whatever class mix the
validation set happens to have; it is also more stable than a max-accuracy threshold, which jumps between
plateaus on small validation sets.

Degenerate inputs (one class only, mismatched lengths, NaN scores, nothing at all) raise ValueError with a
sentence saying so.

``roc_curve_png`` draws with numpy + OpenCV only (no matplotlib) and writes the PNG atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from core.atomic import atomic_write_bytes


def _check(labels: Sequence, scores: Sequence) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D, got shapes {y.shape} and {s.shape}")
    if len(y) != len(s):
        raise ValueError(f"labels and scores differ in length ({len(y)} vs {len(s)})")
    if len(y) == 0:
        raise ValueError("no samples to evaluate")
    if not np.isfinite(s).all():
        raise ValueError(f"{int((~np.isfinite(s)).sum())} score(s) are NaN or infinite")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 (real) or 1 (fake), got {sorted(set(y.tolist()))[:5]}")
    y = y.astype(np.int64)
    n_fake = int(y.sum())
    if n_fake == 0 or n_fake == len(y):
        only = "fake" if n_fake else "real"
        raise ValueError(
            f"all {len(y)} samples are {only}: AUC, AP and EER need both real (0) and fake (1) samples"
        )
    return y, s


def _roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    thr = thr.astype(np.float64)
    thr[0] = np.nextafter(s.max(), np.inf)  # sklearn puts +inf (or max + 1) first: "call nothing fake"
    return fpr, tpr, thr


def eer(labels: Sequence, scores: Sequence) -> float:
    """Equal error rate: where the (linearly interpolated) ROC crosses FPR = FNR."""
    y, s = _check(labels, scores)
    fpr, tpr, _ = _roc(y, s)
    return _eer_from_roc(fpr, tpr)[0]


def _eer_from_roc(fpr: np.ndarray, tpr: np.ndarray) -> tuple[float, int]:
    """(EER, index of the operating point nearest to it). ``d = FPR - FNR`` rises from -1 to +1 along the ROC."""
    d = fpr - (1.0 - tpr)
    k = int(np.argmax(d >= 0))  # first point at or past the crossing (d[-1] = 1 > 0, so it exists)
    if d[k] == 0 or k == 0:
        value = float(fpr[k])
    else:
        t = -d[k - 1] / (d[k] - d[k - 1])
        value = float(fpr[k - 1] + t * (fpr[k] - fpr[k - 1]))
    near = k if k == 0 or abs(d[k]) <= abs(d[k - 1]) else k - 1
    return value, near


def choose_threshold(labels: Sequence, scores: Sequence) -> float:
    """The EER threshold (see module docstring): a score value the data allows, ``score >= thr`` = fake."""
    y, s = _check(labels, scores)
    fpr, tpr, thr = _roc(y, s)
    return float(thr[_eer_from_roc(fpr, tpr)[1]])


def accuracy_at(labels: Sequence, scores: Sequence, threshold: float) -> float:
    """Fraction correct when ``score >= threshold`` is called fake (works with one class too)."""
    y = np.asarray(labels).astype(np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if len(y) != len(s) or len(y) == 0:
        raise ValueError(f"labels and scores must be non-empty and equally long ({len(y)} vs {len(s)})")
    return float(((s >= threshold).astype(np.int64) == y).mean())


def frame_metrics(labels: Sequence, scores: Sequence, threshold: float = 0.5) -> dict[str, float]:
    """{"auc", "ap", "eer", "acc@thr", "threshold", "n", "n_fake"} over individual frames / faces / images."""
    y, s = _check(labels, scores)
    fpr, tpr, _ = _roc(y, s)
    return {
        "auc": float(roc_auc_score(y, s)),
        "ap": float(average_precision_score(y, s)),
        "eer": _eer_from_roc(fpr, tpr)[0],
        "acc@thr": accuracy_at(y, s, threshold),
        "threshold": float(threshold),
        "n": int(len(y)),
        "n_fake": int(y.sum()),
    }


def subset_masks(fake: np.ndarray, methods: np.ndarray) -> dict:
    """The faces each per-subset figure is measured on: every fake method's faces with all the reals ("methods"),
    the data's own fakes with the reals ("own": self-blends left out) and, when there are self-blends (method
    "sbi"), they with the reals ("sbi"). A method's AUC never mixes in another method's fakes."""
    real, sbi = fake == 0, methods == "sbi"
    masks = {"methods": {m: real | (methods == m) for m in sorted(set(methods[fake == 1])) if m and m != "sbi"},
             "own": ~sbi}
    return {**masks, "sbi": real | sbi} if sbi.any() else masks


def paired_auc_difference(labels: Sequence, scores_a: Sequence, scores_b: Sequence, resamples: int = 2000,
                          seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """AUC of `scores_b` minus AUC of `scores_a` on the same faces (both AUCs returned too), with a paired bootstrap interval: the faces are
    resampled (reals and fakes separately, so each resample keeps the class counts) and both models are scored on
    the same resample, so what the two share (hard faces, easy faces) cancels. An interval that holds 0 means the
    test set cannot tell the models apart on this figure."""
    y, a = _check(labels, scores_a)
    _, b = _check(labels, scores_b)
    rng = np.random.default_rng(seed)
    reals, fakes = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    picks = np.concatenate([rng.choice(reals, (resamples, len(reals))), rng.choice(fakes, (resamples, len(fakes)))],
                           axis=1)
    diffs = _rank_auc(b[picks], len(reals)) - _rank_auc(a[picks], len(reals))
    tail = (1 - level) / 2
    auc_a, auc_b = float(roc_auc_score(y, a)), float(roc_auc_score(y, b))
    return {"a": auc_a, "b": auc_b, "diff": auc_b - auc_a, "low": float(np.quantile(diffs, tail)),
            "high": float(np.quantile(diffs, 1 - tail)), "resamples": int(resamples)}


def _rank_auc(scores: np.ndarray, n_real: int) -> np.ndarray:
    """Row-wise AUC of rows whose first `n_real` columns are reals and the rest fakes (Mann-Whitney U, ties half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores, axis=1)
    n_fake = scores.shape[1] - n_real
    return (ranks[:, n_real:].sum(axis=1) - n_fake * (n_fake + 1) / 2) / (n_real * n_fake)


def video_scores(
    video_ids: Sequence, labels: Sequence, scores: Sequence
) -> tuple[list, np.ndarray, np.ndarray]:
    """(ids in first-seen order, label per video, mean frame score per video). A video whose frames carry
    different labels is an error."""
    ids = list(video_ids)
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if not (len(ids) == len(y) == len(s)):
        raise ValueError(f"video_ids, labels and scores differ in length ({len(ids)}, {len(y)}, {len(s)})")
    index: dict = {}
    for vid in ids:
        index.setdefault(vid, len(index))
    slot = np.fromiter((index[v] for v in ids), dtype=np.int64, count=len(ids))
    n = len(index)
    sums = np.bincount(slot, weights=s, minlength=n)
    counts = np.bincount(slot, minlength=n)
    _, first = np.unique(slot, return_index=True)  # slots are 0..n-1: first frame of each video, in order
    first_label = y[first].astype(np.int64)
    if (y != first_label[slot]).any():
        bad = next(v for v, lab in zip(ids, y, strict=True) if lab != first_label[index[v]])
        raise ValueError(f"video {bad!r} has frames labelled both real and fake")
    return list(index), first_label, sums / counts


def video_metrics(
    video_ids: Sequence, labels: Sequence, scores: Sequence, threshold: float = 0.5
) -> dict[str, float]:
    """``frame_metrics`` over videos, each scored by the mean of its frame scores (DeepfakeBench video AUC)."""
    _, y, s = video_scores(video_ids, labels, scores)
    return frame_metrics(y, s, threshold)


# ----------------------------------------------------------------------------------------------- ROC image

_W, _H = 560, 560
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 20, 50, 60
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BLACK, _GREY, _LIGHT, _BLUE, _RED = (0, 0, 0), (128, 128, 128), (225, 225, 225), (200, 90, 20), (40, 40, 210)


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")  # Hershey fonts draw ASCII only


def roc_curve_image(labels: Sequence, scores: Sequence, title: str = "ROC") -> np.ndarray:
    """The ROC plot as an H x W x 3 uint8 BGR image (axes, grid, chance diagonal, curve, AUC and EER)."""
    y, s = _check(labels, scores)
    fpr, tpr, _ = _roc(y, s)
    auc = float(roc_auc_score(y, s))
    eer_value = _eer_from_roc(fpr, tpr)[0]
    img = np.full((_H, _W, 3), 255, np.uint8)
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    shift = 4  # sub-pixel precision for the polylines

    def to_px(x: np.ndarray, yv: np.ndarray) -> np.ndarray:
        px = _LEFT + np.asarray(x) * pw
        py = _TOP + (1.0 - np.asarray(yv)) * ph
        return np.round(np.stack([px, py], axis=1) * (1 << shift)).astype(np.int32)

    for v in np.linspace(0, 1, 6):
        gx, gy = int(round(_LEFT + v * pw)), int(round(_TOP + (1 - v) * ph))
        cv2.line(img, (gx, _TOP), (gx, _TOP + ph), _LIGHT, 1)
        cv2.line(img, (_LEFT, gy), (_LEFT + pw, gy), _LIGHT, 1)
        cv2.putText(img, f"{v:.1f}", (gx - 12, _TOP + ph + 20), _FONT, 0.45, _BLACK, 1, cv2.LINE_AA)
        cv2.putText(img, f"{v:.1f}", (_LEFT - 36, gy + 5), _FONT, 0.45, _BLACK, 1, cv2.LINE_AA)
    cv2.polylines(img, [to_px([0, 1], [0, 1])], False, _GREY, 1, cv2.LINE_AA, shift)
    cv2.rectangle(img, (_LEFT, _TOP), (_LEFT + pw, _TOP + ph), _BLACK, 1)
    cv2.polylines(img, [to_px(fpr, tpr)], False, _BLUE, 2, cv2.LINE_AA, shift)
    ex, ey = to_px([eer_value], [1 - eer_value])[0] / (1 << shift)
    cv2.circle(img, (int(round(ex)), int(round(ey))), 5, _RED, 2, cv2.LINE_AA)
    cv2.putText(img, _ascii(title)[:60], (_LEFT, _TOP - 18), _FONT, 0.6, _BLACK, 1, cv2.LINE_AA)
    cv2.putText(img, f"AUC = {auc:.4f}   EER = {eer_value:.4f}   n = {len(y)}", (_LEFT + 10, _TOP + ph - 14),
                _FONT, 0.5, _BLACK, 1, cv2.LINE_AA)
    cv2.putText(img, "false positive rate (real called fake)", (_LEFT + 60, _H - 15), _FONT, 0.5, _BLACK, 1,
                cv2.LINE_AA)
    label = np.full((22, ph, 3), 255, np.uint8)
    cv2.putText(label, "true positive rate (fake caught)", (40, 16), _FONT, 0.5, _BLACK, 1, cv2.LINE_AA)
    img[_TOP:_TOP + ph, 4:26] = np.rot90(label)  # vertical axis title, reading bottom to top
    return img


def roc_curve_png(labels: Sequence, scores: Sequence, path: str | os.PathLike, title: str = "ROC") -> Path:
    """Render ``roc_curve_image`` and write it as a PNG atomically; returns the path."""
    img = roc_curve_image(labels, scores, title)
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - encoding a plain uint8 image does not fail
        raise RuntimeError("PNG encoding failed")
    path = Path(path)
    atomic_write_bytes(path, buf.tobytes())
    return path
