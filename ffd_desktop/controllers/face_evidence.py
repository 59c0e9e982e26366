"""The selected face's evidence: its crop (attention over it on request), HAMLET's similarity bars, and MFCLIP's
richest patch with its SRM noise map. Everything comes from the result's records and stored images."""

from __future__ import annotations

import cv2
import numpy as np

from core.results import AnalysisResult
from ffd_desktop import imaging
from ffd_desktop import presentation as P
from ffd_desktop.views.analysis_view import AnalysisView

PATCH_COLOUR = (0, 200, 255)
MISSING = "images not kept for this face (only the most suspicious faces keep them)"


def show_face(view: AnalysisView, result: AnalysisResult | None, frame: P.FrameEntry | None, face: P.FaceEntry | None,
              attention_detector: str | None, attention_on: bool) -> None:
    if face is None or frame is None:
        view.face.crop.set_pixmap(None, "no face selected")
        view.face.details.setText("–")
        view.hamlet.bars.set_values({}, "no face selected")
        for pane in (view.mfclip.crop, view.mfclip.patch, view.mfclip.srm):
            pane.set_pixmap(None)
        return
    items = result.artifacts.get(face.key, {})
    crop = imaging.decode(items.get("crop.jpg"))
    shown = crop
    attention = (imaging.decode(items.get(f"{attention_detector}.attention.png"), grey=True)
                 if attention_detector else None)
    if attention_on and crop is not None and attention is not None:
        shown = imaging.crop_overlay(crop, attention)
    view.face.crop.set_pixmap(imaging.to_pixmap(shown) if shown is not None else None, MISSING)
    scores = []
    for name, record in face.records.items():
        r, g, b = P.score_colour(record.score)
        scores.append(f"{P.short_title(name)} <span style='color: rgb({r},{g},{b}); font-weight: 600'>"
                      f"{record.score:.3f}</span>")
    lines = [f"<b>#{face.identity}</b> · frame {frame.index} · {P.clock(frame.time_s)}", " · ".join(scores)]
    if attention_on:
        lines.append(f"<span style='color:#9aa3ad'>attention: {P.title(attention_detector)}</span>"
                     if attention_detector else "<span style='color:#9aa3ad'>no attention map in this result</span>")
    view.face.details.setText("<br>".join(lines))
    _hamlet(view, result, face)
    _mfclip(view, result, face, crop, items)


def _hamlet(view: AnalysisView, result: AnalysisResult, face: P.FaceEntry) -> None:
    panel, record = view.hamlet, face.records.get("hamlet")
    if record is None:
        panel.bars.set_values({}, "HAMLET-FFD was not run")
        panel.score.setText("–")
        return
    order = ["real", "fake", "context"]
    sims = record.similarities
    panel.bars.set_values({k: sims[k] for k in order if k in sims} | {k: v for k, v in sims.items() if k not in order})
    threshold = result.detectors["hamlet"].threshold
    panel.score.setText(f"Fake score <b>{record.score:.3f}</b> (threshold {threshold:.2f})")


def _mfclip(view: AnalysisView, result: AnalysisResult, face: P.FaceEntry, crop: np.ndarray | None,
            items: dict) -> None:
    panel, record = view.mfclip, face.records.get("mfclip")
    if record is None:
        for pane in (panel.crop, panel.patch, panel.srm):
            pane.set_pixmap(None, "MFCLIP was not run")
        panel.score.setText("–")
        return
    threshold = result.detectors["mfclip"].threshold
    sims = ", ".join(f"{k} {v:+.3f}" for k, v in record.similarities.items())
    panel.score.setText(f"Fake score <b>{record.score:.3f}</b> (threshold {threshold:.2f})"
                        + (f" · similarities {sims}" if sims else ""))
    box = record.patch_box
    outlined, patch = crop, None
    if crop is not None and box:
        x0, y0, x1, y1 = (int(v) for v in box)   # MFCLIP's crop pixels: its crops are the largest, the ones kept
        outlined = crop.copy()
        cv2.rectangle(outlined, (x0, y0), (x1 - 1, y1 - 1), PATCH_COLOUR, max(1, crop.shape[1] // 112))
        patch = crop[y0:y1, x0:x1]
    panel.crop.set_pixmap(imaging.to_pixmap(outlined) if outlined is not None else None, "no crop kept")
    panel.patch.set_pixmap(imaging.to_pixmap(patch) if patch is not None and patch.size else None, "no patch")
    srm = imaging.decode(items.get("mfclip.srm.png"))
    panel.srm.set_pixmap(imaging.to_pixmap(srm) if srm is not None else None, "no SRM map kept")
