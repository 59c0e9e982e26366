"""The parts of the analysis page that depend only on the result, not on the frame shown: header, verdict
column (evidence identity, per-detector verdicts, model hashes, caution) and the timeline's curves."""

from __future__ import annotations

from pathlib import Path

from core.results import AnalysisResult
from ffd_desktop import presentation as P
from ffd_desktop.views.analysis_view import AnalysisView
from ffd_desktop.views.timeline import Curve
from ffd_desktop.views.verdict_panel import DetectorCard

GREY = (110, 117, 125)
THRESHOLD_RED = (224, 82, 82)


def fill_header(view: AnalysisView, result: AnalysisResult, frames: list[P.FrameEntry], case_id: int) -> None:
    view.title.setText(Path(str(result.file.get("path", ""))).name or "(unnamed)")
    view.title.setToolTip(str(result.file.get("path", "")))
    view.set_verdict_chip(P.VERDICT_WORDS.get(result.verdict, result.verdict).upper(),
                          P.VERDICT_COLOURS.get(result.verdict, GREY))
    people = len({f.identity for fr in frames for f in fr.faces})
    parts = [f"{people} identit{'y' if people == 1 else 'ies'}",
             f"faces in {result.frames_with_faces}/{result.sampled_frames} sampled frames",
             f"analysed {P.pretty_time(result.started_at)}",
             f"case #{case_id}" if case_id >= 0 else "not saved"]
    view.subtitle.setText("  ·  ".join(parts))
    view.set_notice("\n".join(result.warnings))


def fill_verdicts(view: AnalysisView, result: AnalysisResult, case_id: int) -> None:
    view.verdict.set_evidence(evidence_rows(result, case_id))
    cards = []
    for name, det in result.detectors.items():
        score = f"{det.video_score:.3f}" if det.video_score is not None else "n/a"
        model = det.model or {}
        cards.append(DetectorCard(
            title=P.title(name), verdict=P.VERDICT_WORDS.get(det.verdict, det.verdict),
            colour=P.VERDICT_COLOURS.get(det.verdict, GREY),
            score_line=f"Video score {score}  ·  threshold {det.threshold:.2f}",
            identities=[(f"#{i.id}", f"{i.score:.3f}", str(i.frames)) for i in det.identities],
            model=[("Model", str(model.get("name", "?")), str(model.get("name", "?"))),
                   ("Backbone", str(model.get("arch", "?")), str(model.get("arch", "?"))),
                   ("Weights", P.short_hash(model.get("weights_sha256"), 16), str(model.get("weights_sha256"))),
                   ("Checkpoint", P.short_hash(model.get("detector_sha256"), 16), str(model.get("detector_sha256"))),
                   ("Faces", "with mirror image" if model.get("mirror") else "as cut", det.face_preparation())]))
    view.verdict.set_cards(cards, P.CAUTION)


def evidence_rows(result: AnalysisResult, case_id: int) -> list[tuple[str, str, str]]:
    file, media, software = result.file, result.file.get("media") or {}, result.software or {}
    sha = str(file.get("sha256", ""))
    kind = media.get("kind", "")
    bits = [kind, media.get("codec") or media.get("container") or "",
            f"{media.get('width')}×{media.get('height')}" if media.get("width") else ""]
    if kind == "video":
        bits += [f"{media.get('fps'):.2f} fps" if media.get("fps") else "",
                 f"{media.get('duration_s'):.1f} s" if media.get("duration_s") else ""]
    bits.append(P.human_size(int(file.get("size") or 0)))
    sampling = (result.settings or {}).get("sampling", {})
    rate = f"{sampling.get('value', 0):g} fps" if sampling.get("mode") == "fps" else sampling.get("mode", "")
    return [("File", Path(str(file.get("path", ""))).name, str(file.get("path", ""))),
            ("SHA-256", f"{sha[:32]}\n{sha[32:]}", sha),
            ("Media", " · ".join(b for b in bits if b), ""),
            ("Sampling", f"{result.sampled_frames} frames ({rate}), faces in {result.frames_with_faces}", ""),
            ("Analysed", f"{P.pretty_time(result.started_at)} · {result.duration_s:.1f} s on "
                         f"{software.get('device', '?')}", ""),
            ("Software", f"ffd-desktop {software.get('version', '?')} · torch {software.get('torch', '?')}", ""),
            ("Case", f"#{case_id} in the case store" if case_id >= 0 else "not saved", "")]


def fill_timeline(view: AnalysisView, result: AnalysisResult, frames: list[P.FrameEntry]) -> None:
    series = P.timeline_series(result)
    curves = []
    for order, name in enumerate(result.detectors):
        own = [s for s in series if s.detector == name]
        for rank, s in enumerate(own):
            label = P.title(name) + (f" #{s.identity}" if len(own) > 1 else "")
            curves.append(Curve(label, P.detector_colour(name, order), rank, s.times, s.scores))
    thresholds = sorted({(round(d.threshold, 4), name) for name, d in result.detectors.items()})
    if len({t for t, _ in thresholds}) == 1:
        lines = [(f"threshold {thresholds[0][0]:.2f}", thresholds[0][0], THRESHOLD_RED)]
    else:
        lines = [(f"{P.title(n)} threshold {t:.2f}", t, P.detector_colour(n)) for t, n in thresholds]
    readouts = []
    for frame in frames:
        values = "   ".join(f"{P.title(name)} #{face.identity}: {rec.score:.3f}"
                           for face in frame.faces for name, rec in face.records.items())
        readouts.append((frame.time_s, f"{P.clock(frame.time_s)}  (frame {frame.index})   {values}"))
    duration = ((result.file or {}).get("media") or {}).get("duration_s")
    view.timeline.set_data(curves, lines, readouts, duration)
