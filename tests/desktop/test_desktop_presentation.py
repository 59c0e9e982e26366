"""How a result becomes what the views show: joins, curves per identity, colours, face selection (fast, no model)."""

from __future__ import annotations

from core.results import AnalysisResult, DetectorResult, FaceRecord, FrameRecord, IdentityScore
from ffd_desktop import presentation as P
from tests.desktop.conftest import make_controller


def two_people(path: str = "/nowhere/two_people.mp4") -> AnalysisResult:
    """3 sampled frames, two identities each, both detectors; no images kept (as after artifact bounding)."""
    detectors = {}
    for name, bias in (("hamlet", 0.0), ("mfclip", 0.1)):
        frames = []
        for n, index in enumerate((0, 25, 50)):
            faces = [FaceRecord([10.0 + 200 * i, 20.0, 110.0 + 200 * i, 140.0], i, round(0.2 + 0.3 * i + bias + 0.01 * n, 3),
                                {"real": 0.1, "fake": 0.2, "context": 0.05}, {"crop_matrix": [[1, 0, 0], [0, 1, 0]]},
                                f"{index}:{i}") for i in (0, 1)]
            frames.append(FrameRecord(index, index / 25, faces))
        detectors[name] = DetectorResult({"name": "m", "arch": "a", "weights_sha256": "ab" * 32,
                                          "detector_sha256": "cd" * 32}, 0.6 + bias, "fake", 0.5,
                                         [IdentityScore(0, 0.21, 3), IdentityScore(1, 0.51 + bias, 3)], frames)
    return AnalysisResult(file={"path": path, "sha256": "ef" * 32, "size": 1000,
                                "media": {"kind": "video", "width": 640, "height": 360, "fps": 25.0,
                                          "duration_s": 2.4}},
                          settings={"sampling": {"mode": "fps", "value": 1.0}}, detectors=detectors,
                          started_at="2024-05-01T14:03:22+0200", sampled_frames=3, frames_with_faces=3)


def test_frames_join_detectors_by_face_key_and_curves_split_by_identity():
    result = two_people()
    frames = P.frame_entries(result)
    assert [f.index for f in frames] == [0, 25, 50]
    assert [f.key for f in frames[1].faces] == ["25:0", "25:1"]
    assert set(frames[1].faces[1].records) == {"hamlet", "mfclip"}
    assert frames[1].faces[1].score() == frames[1].faces[1].records["mfclip"].score   # highest of the two
    series = P.timeline_series(result)
    assert [(s.detector, s.identity, len(s.times)) for s in series] == [
        ("hamlet", 0, 3), ("hamlet", 1, 3), ("mfclip", 0, 3), ("mfclip", 1, 3)]
    assert P.pick_face(frames[2], identity=0, detector=None) == 0
    assert P.pick_face(frames[2], identity=None, detector="hamlet") == 1      # the most suspicious
    assert P.nearest_frame(frames, 1.1) == 1


def test_score_colours_run_green_to_red_and_times_read_well():
    green, amber, red = P.score_colour(0.0), P.score_colour(0.5), P.score_colour(1.0)
    assert green[1] > green[0] and red[0] > red[1] and amber[0] > 200 and amber[1] > 150
    assert P.score_colour(None) == P.score_colour(float("nan"))
    assert P.pretty_time("2024-05-01T14:03:22+0200") == "2024-05-01 14:03:22 +0200"
    assert P.clock(75.25) == "01:15.2"


def test_timeline_draws_one_curve_per_detector_and_identity(qtbot, ffd_app, tmp_path):
    controller = make_controller(tmp_path, None)
    qtbot.addWidget(controller.window)
    with qtbot.waitSignal(controller.results.framesLoaded, timeout=5000):
        controller.show_result(two_people(), -1)
    timeline = controller.window.analysis.timeline
    assert len(timeline.curves) == 4
    names = [c.name() for c in timeline.curves]
    assert names == ["HAMLET-FFD #0", "HAMLET-FFD #1", "MFCLIP #0", "MFCLIP #1"]
    results = controller.results
    assert results.current_frame.index == 50 and results.selected_face.identity == 1   # most suspicious first
    results.seek(0)
    assert results.selected_face.identity == 1                                           # follows the person
    canvas = controller.window.analysis.player.canvas
    assert "frame image not available" in canvas.caption() and len(canvas.boxes()) == 2
    assert "not at /nowhere/two_people.mp4" in controller.window.analysis.notice.text()
    verdict = controller.window.analysis.verdict
    assert [label.text() for label in verdict.verdict_labels.values()] == ["Manipulation indicated"] * 2
    from PySide6.QtWidgets import QLabel

    tips = [label.toolTip() for card in verdict.cards for label in card.findChildren(QLabel)
            if label.toolTip().startswith("Model:")]
    assert len(tips) == 2 and all(tip.endswith("\nFaces: scored as cut") for tip in tips)   # how faces were scored


def test_a_result_closed_in_the_turn_it_was_shown_draws_nothing_late(qtbot, ffd_app, tmp_path):
    """The timeline and frames come one event-loop turn after the verdicts; if the result is gone by then (its
    case deleted), that late turn must neither draw its curves nor start decoding its file."""
    controller = make_controller(tmp_path, None)
    qtbot.addWidget(controller.window)
    loaded = []
    controller.results.framesLoaded.connect(lambda: loaded.append(True))
    controller.show_result(two_people(), -1)
    controller.results.clear()
    qtbot.wait(300)
    assert controller.window.analysis.timeline.curves == [] and not loaded
    with qtbot.waitSignal(controller.results.framesLoaded, timeout=5000):   # the next result is drawn in full
        controller.show_result(two_people("/nowhere/second.mp4"), -1)
    assert len(controller.window.analysis.timeline.curves) == 4
