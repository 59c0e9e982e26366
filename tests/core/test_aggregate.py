import pytest

from core.engine.aggregate import identity_scores, video_verdict
from core.results import FaceRecord, FrameRecord


def _frames(scores_by_identity):
    frames = []
    for index, row in enumerate(zip(*scores_by_identity.values(), strict=True)):
        faces = [FaceRecord(box=[0, 0, 1, 1], identity=i, score=s) for i, s in zip(scores_by_identity, row,
                                                                                     strict=True)]
        frames.append(FrameRecord(index=index, time_s=index / 25, faces=faces))
    return frames


def test_mean_rule_per_identity_and_any_fake_identity_makes_video_fake():
    frames = _frames({0: [0.1, 0.2, 0.3], 1: [0.9, 0.7, 0.8]})
    ids = identity_scores(frames, "mean")
    assert [(i.id, round(i.score, 6), i.frames) for i in ids] == [(0, 0.2, 3), (1, 0.8, 3)]
    assert video_verdict(ids, 0.5) == (pytest.approx(0.8), "fake")
    assert video_verdict(identity_scores(_frames({0: [0.1, 0.3]}), "max"), 0.5) == (pytest.approx(0.3), "real")


def test_other_rules_and_no_faces():
    frames = _frames({0: [0.1, 0.2, 0.9, 0.95]})
    assert identity_scores(frames, "median")[0].score == pytest.approx(0.55)
    assert identity_scores(frames, "top25")[0].score == pytest.approx(0.95)
    assert video_verdict([], 0.5) == (None, "no-face")
    with pytest.raises(ValueError):
        identity_scores(frames, "mode")
