"""Detection metrics (core.training.metrics): agreement with scikit-learn, hand-checked values, edge cases."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from core.training.metrics import (
    accuracy_at,
    choose_threshold,
    eer,
    frame_metrics,
    paired_auc_difference,
    roc_curve_png,
    subset_masks,
    video_metrics,
    video_scores,
)


def test_auc_and_ap_match_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1).round(2)  # rounded: many ties
    m = frame_metrics(labels, scores)
    assert m["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert m["ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert m["n"] == 500 and m["n_fake"] == int(labels.sum())
    assert 0.15 < m["eer"] < 0.35


def test_hand_checked_example():
    # real 0.1, 0.4; fake 0.35, 0.8. Pairs with fake above real: 3 of 4 -> AUC 0.75.
    # Ranked: 0.8 F (P=1, R=.5), 0.4 R, 0.35 F (P=2/3, R=1) -> AP = .5 * 1 + .5 * 2/3.
    # ROC points (FPR, TPR): (0,0) (0,.5) (.5,.5) (.5,1) (1,1): FPR = FNR = .5 at (.5,.5) -> EER .5.
    m = frame_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], threshold=0.5)
    assert m["auc"] == pytest.approx(0.75)
    assert m["ap"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert m["eer"] == pytest.approx(0.5)
    assert m["acc@thr"] == pytest.approx(0.75) and m["threshold"] == 0.5  # 0.35 missed, rest right


def test_eer_interpolates_between_operating_points():
    # real .1 .5 .7, fake .6 .9: FPR - FNR goes -1/6 (thr .7: FPR 1/3, TPR .5) -> +1/3 (thr .6: FPR 1/3,
    # TPR 1); the crossing is on that vertical segment, at FPR 1/3 = FNR 1/3.
    labels, scores = [0, 0, 0, 1, 1], [0.1, 0.5, 0.7, 0.6, 0.9]
    assert eer(labels, scores) == pytest.approx(1 / 3)
    assert choose_threshold(labels, scores) == pytest.approx(0.7)  # nearest realisable point (|-1/6| < 1/3)


def test_eer_extremes_and_threshold():
    labels = [0, 0, 0, 1, 1, 1]
    separated = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]
    assert eer(labels, separated) == 0.0
    thr = choose_threshold(labels, separated)
    assert thr == pytest.approx(0.7) and accuracy_at(labels, separated, thr) == 1.0
    assert eer(labels, [0.5] * 6) == pytest.approx(0.5)
    assert eer(labels, separated[::-1]) == 1.0  # inverted scores: everything wrong
    assert frame_metrics(labels, [0.5] * 6)["auc"] == 0.5


def test_video_metrics_average_frames_per_video():
    ids = ["a", "a", "a", "b", "b", "c", "c", "d"]
    labels = [0, 0, 0, 1, 1, 1, 1, 0]
    scores = [0.1, 0.2, 0.9, 0.6, 0.8, 0.2, 0.4, 0.35]
    order, y, s = video_scores(ids, labels, scores)
    assert order == ["a", "b", "c", "d"] and y.tolist() == [0, 1, 1, 0]
    assert s == pytest.approx([0.4, 0.7, 0.3, 0.35])
    m = video_metrics(ids, labels, scores)
    assert m["n"] == 4 and m["n_fake"] == 2
    assert m["auc"] == pytest.approx(roc_auc_score([0, 1, 1, 0], [0.4, 0.7, 0.3, 0.35]))  # = 0.5
    assert m["acc@thr"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="video 'a' has frames labelled both"):
        video_metrics(["a", "a", "b"], [0, 1, 1], [0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([1, 1, 1], [0.1, 0.5, 0.9], "all 3 samples are fake"),
        ([0, 0], [0.1, 0.5], "all 2 samples are real"),
        ([0, 1], [0.1], "differ in length"),
        ([], [], "no samples"),
        ([0, 1], [0.1, float("nan")], "NaN"),
        ([0, 2], [0.1, 0.2], "labels must be 0"),
    ],
)
def test_degenerate_inputs_raise_value_error(labels, scores, message):
    with pytest.raises(ValueError, match=message):
        frame_metrics(labels, scores)


def test_roc_png_is_readable(tmp_path: Path):
    rng = np.random.default_rng(1)
    labels = np.r_[np.zeros(200), np.ones(200)].astype(int)
    scores = np.r_[rng.uniform(0, 0.7, 200), rng.uniform(0.3, 1.0, 200)]
    path = roc_curve_png(labels, scores, tmp_path / "plots" / "roc.png", title="HAMLET val (frames)")
    assert path == tmp_path / "plots" / "roc.png"
    img = cv2.imread(str(path))
    assert img is not None and img.shape == (560, 560, 3)
    blue = (img[:, :, 0] > 150) & (img[:, :, 2] < 100)
    assert blue.sum() > 500  # the curve is drawn
    assert sorted(p.name for p in path.parent.iterdir()) == ["roc.png"]  # atomic: no temp file left
    with pytest.raises(ValueError, match="both real"):
        roc_curve_png([1, 1], [0.2, 0.3], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_paired_auc_difference_resolves_a_real_gain_and_not_a_reshuffle():
    rng = np.random.default_rng(3)
    labels = np.r_[np.zeros(400), np.ones(100)].astype(int)
    shared = rng.normal(size=500) + labels          # what both models see (easy and hard faces)
    a = shared + 0.3 * rng.normal(size=500)
    better = shared + 0.3 * rng.normal(size=500) + 0.4 * labels
    same = shared + 0.3 * rng.normal(size=500)      # as good as a, different noise
    gain = paired_auc_difference(labels, a, better)
    assert gain["diff"] == pytest.approx(roc_auc_score(labels, better) - roc_auc_score(labels, a), abs=1e-12)
    assert 0 < gain["low"] < gain["diff"] < gain["high"]
    tie = paired_auc_difference(labels, a, same)
    assert tie["low"] < 0 < tie["high"]
    reverse = paired_auc_difference(labels, better, a)   # swapping the models mirrors the interval
    assert reverse["diff"] == pytest.approx(-gain["diff"]) and reverse["high"] == pytest.approx(-gain["low"], abs=0.01)
    assert paired_auc_difference(labels, a, a) == {"a": roc_auc_score(labels, a), "b": roc_auc_score(labels, a),
                                                   "diff": 0.0, "low": 0.0, "high": 0.0, "resamples": 2000}
    with pytest.raises(ValueError, match="differ in length"):
        paired_auc_difference(labels, a, better[:-1])


def test_subset_masks_pair_each_method_and_the_self_blends_with_every_real():
    fake = np.array([0, 0, 1, 1, 1, 1])
    methods = np.array(["", "", "deepfakes", "faceswap", "sbi", "deepfakes"], dtype=object)
    masks = subset_masks(fake, methods)
    assert set(masks["methods"]) == {"deepfakes", "faceswap"}      # self-blends are not one of the data's methods
    assert masks["methods"]["deepfakes"].tolist() == [True, True, True, False, False, True]
    assert masks["own"].tolist() == [True, True, True, True, False, True]
    assert masks["sbi"].tolist() == [True, True, False, False, True, False]
    assert "sbi" not in subset_masks(fake[:4], methods[:4])   # none there, no figure for them
