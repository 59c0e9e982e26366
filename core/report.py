"""PDF case report of one analysis (fpdf2; no Qt).

Everything in the report comes from the AnalysisResult, so a stored case prints the same report as a fresh analysis.
The report states what was examined (file, hash, media), how (settings, software, exact model hashes), what each
detector concluded, where the scores came from (timeline, the most suspicious frames with their visual evidence) and,
in plain words, what the scores do and do not mean.

Fonts: DejaVu Sans / Sans Mono (free licence, resources/fonts/LICENSE_DEJAVU) so names such as "Zoë Ødegård – №42"
print as typed; Noto Sans Arabic / Hebrew and Droid Sans Fallback (CJK) are fallbacks for what DejaVu lacks, and text
shaping (uharfbuzz) joins Arabic and orders right-to-left text. A character no font holds is printed as U+FFFD, never
dropped. If DejaVu cannot be found (resources folder, system fonts, matplotlib's copy), the report falls back to the
PDF core fonts and replaces characters Latin-1 cannot hold.
"""

from __future__ import annotations

import importlib.util
import io
import math
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace
from PIL import Image

import core
from core.atomic import atomic_path
from core.forensics.heatmap import overlay
from core.paths import resources_dir
from core.results import AnalysisResult, DetectorResult, FaceRecord, FrameRecord

DETECTOR_TITLES = {"hamlet": "HAMLET-FFD", "mfclip": "MFCLIP"}
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "mono": "DejaVuSansMono.ttf"}
FALLBACK_FONTS = {"arabic": "NotoSansArabic-Regular.ttf", "hebrew": "NotoSansHebrew-Regular.ttf",
                  "cjk": "DroidSansFallbackFull.ttf"}
MISSING_GLYPH = "\ufffd"   # printed in place of a character no font can draw
ROW_LINES = 12              # a table value longer than this many lines continues in further rows

# colours (RGB)
INK = (33, 37, 41)
MUTED = (108, 117, 125)
ACCENT = (31, 58, 95)
RULE = (200, 206, 214)
ZEBRA = (243, 245, 248)
VERDICT_COLOURS = {"fake": (176, 32, 32), "real": (30, 110, 60), "no-face": (108, 117, 125)}
IDENTITY_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189), (140, 86, 75),
                    (227, 119, 194), (23, 190, 207), (188, 189, 34)]
THRESHOLD_COLOUR = (176, 32, 32)
PATCH_COLOUR = (0, 200, 255)
BOX_COLOUR = (255, 64, 64)

LATIN1_REPLACEMENTS = {"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "№": "No.",
                       "≥": ">=", "≤": "<=", "·": "-", "•": "-", "→": "->", "×": "x", "−": "-"}


# ------------------------------------------------------------------------------------------------ public API


def write_report(result: AnalysisResult, path: str | Path, *, case_number: str | None = None,
                 examiner: str | None = None, notes: str | None = None, top_frames: int = 6) -> Path:
    """Write the PDF report of `result` to `path` atomically (a failure leaves any earlier file untouched)."""
    pdf = _build(result, case_number=case_number, examiner=examiner, notes=notes, top_frames=top_frames)
    data = bytes(pdf.output())   # built completely in memory first: nothing touches the disk if this fails
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def find_fonts() -> dict[str, Path] | None:
    """The DejaVu TTF files (regular, bold, mono) from the first place that has all three, or None."""
    for folder in _font_dirs():
        files = {style: folder / name for style, name in FONT_FILES.items()}
        if all(f.is_file() for f in files.values()):
            return files
    return None


def find_fallback_fonts() -> dict[str, Path]:
    """The fallback fonts (Arabic, Hebrew, CJK) found, by font id; missing ones are left out."""
    folders = [resources_dir() / "fonts", Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/truetype/droid")]
    found = {}
    for font_id, name in FALLBACK_FONTS.items():
        path = next((folder / name for folder in folders if (folder / name).is_file()), None)
        if path:
            found[font_id] = path
    return found


def _font_dirs() -> Iterator[Path]:
    yield resources_dir() / "fonts"
    yield Path("/usr/share/fonts/truetype/dejavu")
    yield Path("/usr/share/fonts/dejavu")
    spec = importlib.util.find_spec("matplotlib")   # located, not imported
    if spec is not None and spec.origin:
        yield Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"


# ------------------------------------------------------------------------------------------------ document


class _ReportPDF(FPDF):
    def __init__(self, sha256: str, running_title: str, fonts: dict[str, Path] | None):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.sha256 = sha256 or "unknown"
        self.running_title = running_title
        self.set_margins(16, 18, 16)
        self.set_auto_page_break(True, margin=20)
        if fonts:
            self.add_font("sans", "", str(fonts[""]))
            self.add_font("sans", "B", str(fonts["B"]))
            self.add_font("mono", "", str(fonts["mono"]))
            for font_id, path in find_fallback_fonts().items():
                self.add_font(font_id, "", str(path))
            self.set_fallback_fonts(["sans", *find_fallback_fonts()], exact_match=False)
            self.set_text_shaping(True)
            self.covered = set().union(*(font.cmap for font in self.fonts.values()))
            self.sans, self.mono, self.unicode_fonts = "sans", "mono", True
        else:
            self.sans, self.mono, self.unicode_fonts = "helvetica", "courier", False
        self.set_text_color(*INK)

    @property
    def content_width(self) -> float:
        return self.w - self.l_margin - self.r_margin

    def normalize_text(self, text: str) -> str:
        if not self.unicode_fonts:
            text = _latin1(text)
        else:   # visible replacement for what no font holds; controls and invisible format marks pass as they are
            text = "".join(c if ord(c) in self.covered or c in "\n\t\r" or unicodedata.category(c) == "Cf"
                           else MISSING_GLYPH for c in text)
        return super().normalize_text(text)

    def font(self, size: float, style: str = "", mono: bool = False, colour=INK) -> None:
        self.set_font(self.mono if mono else self.sans, "" if mono else style, size)
        self.set_text_color(*colour)

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_y(9)
        self.font(7.5, colour=MUTED)
        self.cell(self.content_width * 0.7, 4, self.running_title)
        self.cell(self.content_width * 0.3, 4, "FFD Desktop forensic report", align="R")
        self.set_draw_color(*RULE)
        self.set_line_width(0.2)
        self.line(self.l_margin, 14, self.w - self.r_margin, 14)
        self.set_y(18)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_draw_color(*RULE)
        self.set_line_width(0.2)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.set_y(-12.5)
        self.font(6.5, colour=MUTED)
        self.cell(22, 4, "Evidence SHA-256")
        self.font(6.5, mono=True, colour=MUTED)
        self.cell(self.content_width - 47, 4, self.sha256)
        self.font(7.5, colour=MUTED)
        self.cell(25, 4, f"Page {self.page_no()} of {{nb}}", align="R")

    # ---- building blocks

    def section(self, title: str, space: float = 30) -> None:
        """A section heading, moved to the next page when fewer than `space` mm would follow it."""
        if self.will_page_break(space):
            self.add_page()
        self.ln(3)
        self.font(12.5, "B", colour=ACCENT)
        self.cell(0, 7, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(*ACCENT)
        self.set_line_width(0.4)
        self.line(self.l_margin, self.get_y(), self.l_margin + self.content_width, self.get_y())
        self.ln(2.5)

    def subheading(self, text: str, space: float = 28) -> None:
        """A bold run-in heading kept on the same page as at least `space` mm of what follows."""
        if self.will_page_break(space):
            self.add_page()
        self.font(9.5, "B")
        self.cell(0, 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def paragraph(self, text: str, size: float = 9, style: str = "", colour=INK, after: float = 1.8) -> None:
        self.font(size, style, colour=colour)
        self.multi_cell(0, size * 0.47, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(after)

    def bullets(self, items: list[str], size: float = 9) -> None:
        for item in items:
            self.font(size)
            y = self.get_y()
            if self.will_page_break(size * 0.47 * 2):
                self.add_page()
                y = self.get_y()
            self.set_xy(self.l_margin + 1.5, y)
            self.cell(4, size * 0.47, "•" if self.unicode_fonts else "-")
            self.multi_cell(self.content_width - 5.5, size * 0.47, item, align="L", new_x=XPos.LMARGIN,
                            new_y=YPos.NEXT)
            self.ln(1.2)

    def key_values(self, rows: list[tuple[str, str] | tuple[str, str, bool]], label_width: float = 46) -> None:
        """Two-column table: muted labels, values (monospace when the row's third item is True)."""
        fills = (ZEBRA, (255, 255, 255))
        self.font(9)
        with self.table(col_widths=(label_width, self.content_width - label_width), width=self.content_width,
                        first_row_as_headings=False, borders_layout="NONE", text_align="LEFT", line_height=4.4,
                        padding=(1.1, 2), v_align="TOP") as table:
            for n, (label, value, *mono) in enumerate(rows):
                fill = fills[n % 2]
                face = FontFace(family=self.mono if mono and mono[0] else self.sans, emphasis="",
                                size_pt=8 if mono and mono[0] else 9, color=INK, fill_color=fill)
                for part, text in enumerate(self._row_chunks(value or "—", face, self.content_width - label_width)):
                    row = table.row()
                    row.cell("" if part else label, style=FontFace(family=self.sans, emphasis="", size_pt=8.5,
                                                                   color=MUTED, fill_color=fill))
                    row.cell(text, style=face)
        self.ln(1)

    def _row_chunks(self, text: str, face: FontFace, width: float) -> list[str]:
        """`text` wrapped to the column and cut into pieces of ROW_LINES lines: a table row must fit on a page."""
        self.set_font(face.family, "", face.size_pt)
        lines = self.multi_cell(width - 4, 4.4, text, dry_run=True, output="LINES")
        self.font(9)
        return ["\n".join(lines[i:i + ROW_LINES]) for i in range(0, len(lines), ROW_LINES)] or [text]


def _build(result: AnalysisResult, *, case_number, examiner, notes, top_frames: int) -> _ReportPDF:
    file = result.file
    media = file.get("media") or {}
    name = _file_name(file.get("path", ""))
    running = f"Case {case_number} · {name}" if case_number else name
    pdf = _ReportPDF(str(file.get("sha256", "")), running, find_fonts())
    pdf.set_title(f"Face-forgery analysis report: {name}")
    pdf.set_subject(f"SHA-256 {file.get('sha256', '')}")
    if examiner:
        pdf.set_author(examiner)
    pdf.set_creator(f"FFD Desktop {core.__version__}")
    pdf.add_page()

    _title_block(pdf, name, case_number, examiner, notes)
    _findings(pdf, result)
    _evidence(pdf, result, name, media)
    _analysis(pdf, result)
    _models(pdf, result)
    picks = _suspicious_frames(result, top_frames, per_frame=media.get("kind") != "image")
    _timeline_section(pdf, result, media, picks)
    _frames_section(pdf, result, media, picks)
    _methodology(pdf, result)
    _limitations(pdf, result)
    return pdf


# ------------------------------------------------------------------------------------------------ sections


def _title_block(pdf: _ReportPDF, name: str, case_number, examiner, notes) -> None:
    pdf.set_fill_color(*ACCENT)
    pdf.rect(0, 0, pdf.w, 5, style="F")
    pdf.set_y(13)
    pdf.font(8, "B", colour=MUTED)
    pdf.cell(0, 4, "FFD DESKTOP · FACE-FORGERY ANALYSIS", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.font(19, "B", colour=ACCENT)
    pdf.cell(0, 10, "Forensic analysis report", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.font(11)
    pdf.multi_cell(0, 5.5, name or "(unnamed evidence)", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.key_values([
        ("Case number", case_number or ""),
        ("Examiner", examiner or ""),
        ("Report generated", time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())),
        ("Notes", notes or ""),
    ], label_width=34)


def _findings(pdf: _ReportPDF, result: AnalysisResult) -> None:
    pdf.section("1  Findings")
    if not result.detectors:
        pdf.paragraph("No detector produced a result for this evidence.")
        return
    head = FontFace(family=pdf.sans, emphasis="B", size_pt=8.5, color=(255, 255, 255), fill_color=ACCENT)
    white = (255, 255, 255)
    cell = FontFace(family=pdf.sans, emphasis="", size_pt=9, color=INK, fill_color=white)
    pdf.font(9)
    with pdf.table(col_widths=(28, 24, 24, 22, 80), width=pdf.content_width, headings_style=head,
                   borders_layout="HORIZONTAL_LINES", text_align=("LEFT", "CENTER", "RIGHT", "RIGHT", "LEFT"),
                   line_height=4.6, padding=(1.5, 2), v_align="MIDDLE") as table:
        row = table.row()
        photo = (result.file.get("media") or {}).get("kind") == "image"
        for text in ("Detector", "Verdict", "Score" if photo else "Video score", "Threshold",
                     "Per identity (score, faces scored)"):
            row.cell(text)
        for det_name, det in result.detectors.items():
            row = table.row()
            row.cell(_title(det_name), style=FontFace(family=pdf.sans, emphasis="B", size_pt=9, color=INK,
                                                      fill_color=white))
            row.cell(_verdict_word(det.verdict), style=FontFace(
                family=pdf.sans, emphasis="B", size_pt=9.5, color=VERDICT_COLOURS.get(det.verdict, MUTED),
                fill_color=white))
            row.cell(_score(det.video_score), style=cell)
            row.cell(f"{det.threshold:.4f}", style=cell)
            row.cell("\n".join(f"Identity {i.id}: {_score(i.score)}  ({i.frames} face{'s' if i.frames != 1 else ''})"
                               for i in det.identities)
                     or "no face scored", style=cell)
    pdf.ln(2)
    for det_name, det in result.detectors.items():
        pdf.paragraph(_plain_verdict(det_name, det, "score" if photo else "video score"), size=8.8, after=0.8)
    pdf.ln(1.5)
    _caution_box(pdf)


def _caution_box(pdf: _ReportPDF) -> None:
    text = ("How to read these results: a score is a statistical estimate produced by a machine-learning model, not "
            "proof that a face was or was not manipulated. Compression, low resolution and manipulation methods the "
            "model never saw can all move a score either way. These findings must never be the sole basis of a "
            "decision; see section 8, Limitations.")
    pdf.font(8.6)
    lines = pdf.multi_cell(pdf.content_width - 10, 4.3, text, align="L", dry_run=True, output="LINES")
    height = len(lines) * 4.3 + 5
    if pdf.will_page_break(height):
        pdf.add_page()
    x, y = pdf.l_margin, pdf.get_y()
    pdf.set_fill_color(255, 248, 225)
    pdf.set_draw_color(214, 160, 32)
    pdf.set_line_width(0.3)
    pdf.rect(x, y, pdf.content_width, height, style="DF")
    pdf.set_fill_color(214, 160, 32)
    pdf.rect(x, y, 1.6, height, style="F")
    pdf.set_xy(x + 5, y + 2.5)
    pdf.multi_cell(pdf.content_width - 10, 4.3, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(y + height + 2)


def _evidence(pdf: _ReportPDF, result: AnalysisResult, name: str, media: dict) -> None:
    pdf.section("2  Evidence")
    size = result.file.get("size")
    kind = media.get("kind")
    rows = [
        ("File name", name),
        ("Path at analysis", str(result.file.get("path", ""))),
        ("Size", f"{_human_size(size)} ({size:,} bytes)" if isinstance(size, int) else ""),
        ("SHA-256", str(result.file.get("sha256", "")), True),
        ("Type", f"{kind or '?'} · {str(media.get('container') or '?').upper()}"),
    ]
    if kind != "image":
        rows += [("Video codec", str(media.get("codec") or "")),
                 ("Frame rate", f"{media['fps']:.3f} fps" if media.get("fps") else ""),
                 ("Frames", f"{media['frame_count']:,}" if media.get("frame_count") else ""),
                 ("Duration", _clock(media["duration_s"], precise=True) + f"  ({media['duration_s']:.2f} s)"
                  if media.get("duration_s") is not None else "")]
    rows += [("Resolution", f"{media.get('width')} × {media.get('height')} px (upright)" if media.get("width")
              else ""),
             ("Rotation", f"{media.get('rotation', 0)}° (from metadata; frames were analysed upright)")]
    pdf.key_values(rows)


def _analysis(pdf: _ReportPDF, result: AnalysisResult) -> None:
    pdf.section("3  Analysis")
    settings = result.settings or {}
    software = result.software or {}
    threshold = settings.get("threshold")
    rows = [
        ("Started", _pretty_time(result.started_at)),
        ("Duration", f"{result.duration_s:.1f} s"),
    ]
    if (result.file.get("media") or {}).get("kind") == "image":
        rows.append(("Faces analysed", f"{sum(i.frames for i in next(iter(result.detectors.values())).identities)}"
                     if result.detectors else "0"))
    else:
        rows += [("Frame sampling", _sampling_text(settings.get("sampling"))),
                 ("Frames analysed", f"{result.sampled_frames} sampled, {result.frames_with_faces} with a face")]
    rows += [
        ("Aggregation", f"{settings.get('aggregation', 'mean')} of each identity's frame scores; the video score "
                        "is the highest identity score"),
        ("Thresholds", "each detector's validated threshold from its model card" if threshold is None
         else f"{threshold:.4f} for every detector (set by the user)"),
        ("Face detection", f"minimum confidence {settings.get('min_face_confidence', '?')}, at most "
                           f"{settings.get('max_faces_per_frame', '?')} faces per frame"),
        ("Device", str(software.get("device", "?"))),
        ("Software", f"{software.get('name', 'ffd-desktop')} {software.get('version', '?')}"
                     + (f" (torch {software['torch']})" if software.get("torch") else "")
                     + f"; report by FFD Desktop {core.__version__}"),
    ]
    for warning in result.warnings:
        rows.append(("Warning", str(warning)))
    for error in result.errors:
        rows.append(("Error", "; ".join(f"{k}: {v}" for k, v in error.items()) if isinstance(error, dict)
                     else str(error)))
    pdf.key_values(rows)


def _models(pdf: _ReportPDF, result: AnalysisResult) -> None:
    pdf.section("4  Models", space=45)
    pdf.paragraph("The exact files used are identified by their SHA-256 hashes; the same hashes and face preparation "
                  "reproduce the same scores on the same evidence and settings.", size=8.5, colour=MUTED)
    for det_name, det in result.detectors.items():
        model = det.model or {}
        pdf.subheading(_title(det_name), space=32)
        pdf.key_values([
            ("Model", str(model.get("name", ""))),
            ("Backbone architecture", str(model.get("arch", ""))),
            ("Backbone weights SHA-256", str(model.get("weights_sha256", "")), True),
            ("Detector checkpoint SHA-256", str(model.get("detector_sha256", "")), True),
            ("Face preparation", det.face_preparation()),
        ], label_width=50)


def _timeline_section(pdf: _ReportPDF, result: AnalysisResult, media: dict, picks: list[_Pick]) -> None:
    pdf.section("5  Score timeline", space=80)
    points = sum(len(fr.faces) for det in result.detectors.values() for fr in det.frames)
    if media.get("kind") == "image" or result.sampled_frames <= 1:
        pdf.paragraph("The evidence is a single image, so there is no timeline. Its scores are listed in section 1 "
                      "and the analysed face is shown in section 6." if media.get("kind") == "image" else
                      "Only one frame was analysed, so there is no timeline.")
        return
    if not points:
        pdf.paragraph("No face was scored, so there is no timeline.")
        return
    pdf.paragraph("Fake score of every analysed face over time, one line per tracked identity; the dashed red line is "
                  "the detector's threshold. Gaps in a line are frames where that face was not found. Numbered marks "
                  "above each chart locate the frames shown in section 6.",
                  size=8.5, colour=MUTED)
    end = max([media.get("duration_s") or 0.0]
              + [fr.time_s for det in result.detectors.values() for fr in det.frames])
    for det_name, det in result.detectors.items():
        extra = 4 * _legend_rows(len(_series(det.frames)), pdf.content_width - 3)
        if pdf.will_page_break(47 + extra):
            pdf.add_page()
        y = pdf.get_y()
        _chart(pdf, det_name, det, pdf.l_margin, y, pdf.content_width, 44, max(end, 1e-3),
               [p.frame.time_s for p in picks])
        pdf.set_y(y + 47 + extra)


def _chart(pdf: _ReportPDF, det_name: str, det: DetectorResult, x: float, y: float, w: float, h: float,
           end: float, marks: list[float]) -> None:
    """Vector line chart: per-frame score per identity, threshold line, score grid, time axis."""
    left, right, top, bottom = 13.0, 3.0, 10.0, 9.0
    x0, x1, y0, y1 = x + left, x + w - right, y + top, y + h - bottom

    def px(t: float) -> float:
        return x0 + (x1 - x0) * min(max(t / end, 0.0), 1.0)

    def py(v: float) -> float:
        return y1 - (y1 - y0) * min(max(v, 0.0), 1.0)

    pdf.font(9, "B")
    pdf.set_xy(x, y)
    pdf.cell(60, 5, f"{_title(det_name)}: fake score per frame")
    # grid and score axis
    pdf.set_line_width(0.15)
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        pdf.set_draw_color(*((150, 150, 150) if v in (0.0, 1.0) else (222, 226, 230)))
        pdf.line(x0, py(v), x1, py(v))
        pdf.font(6.5, colour=MUTED)
        pdf.set_xy(x, py(v) - 1.6)
        pdf.cell(left - 1.5, 3.2, f"{v:.2f}", align="R")
    pdf.set_draw_color(150, 150, 150)
    pdf.line(x0, y0, x0, y1)
    # time axis
    step = _nice_step(end)
    t = 0.0
    while t <= end + 1e-9:
        pdf.set_draw_color(150, 150, 150)
        pdf.line(px(t), y1, px(t), y1 + 1.2)
        pdf.font(6.5, colour=MUTED)
        pdf.set_xy(px(t) - 8, y1 + 1.4)
        pdf.cell(16, 3, _clock(t), align="C")
        t += step
    pdf.set_xy(x0, y1 + 4.6)
    pdf.font(6.5, colour=MUTED)
    pdf.cell(x1 - x0, 3, "time (minutes:seconds)", align="C")
    # the frames shown in section 6, numbered by rank
    labelled: list[float] = []
    for rank, t in enumerate(marks, start=1):
        pdf.set_fill_color(*MUTED)
        pdf.polygon([(px(t) - 0.9, y0 - 2.1), (px(t) + 0.9, y0 - 2.1), (px(t), y0 - 0.6)], style="F")
        if all(abs(px(t) - other) >= 3 for other in labelled):   # crowded marks keep the higher rank's number
            labelled.append(px(t))
            pdf.font(5.8, colour=MUTED)
            pdf.set_xy(px(t) - 3, y0 - 4.6)
            pdf.cell(6, 2.4, str(rank), align="C")
    # identities
    series = _series(det.frames)
    gap = 2.5 * _typical_step([fr.time_s for fr in det.frames])
    for n, (_identity, pts) in enumerate(sorted(series.items())):
        colour = IDENTITY_COLOURS[n % len(IDENTITY_COLOURS)]
        pdf.set_draw_color(*colour)
        pdf.set_fill_color(*colour)
        pdf.set_line_width(0.45)
        run: list[tuple[float, float]] = []
        for i, (t, s) in enumerate(pts):
            if run and gap > 0 and t - pts[i - 1][0] > gap:
                _polyline(pdf, run)
                run = []
            run.append((px(t), py(s)))
        _polyline(pdf, run)
        if len(pts) <= 90:
            for t, s in pts:
                pdf.circle(px(t), py(s), 0.55, style="F")
    # threshold
    pdf.set_draw_color(*THRESHOLD_COLOUR)
    pdf.set_line_width(0.35)
    pdf.set_dash_pattern(dash=1.4, gap=1.0)
    pdf.line(x0, py(det.threshold), x1, py(det.threshold))
    pdf.set_dash_pattern()
    label = f"threshold {det.threshold:.2f}"
    pdf.font(6.5, colour=THRESHOLD_COLOUR)
    label_w = pdf.get_string_width(label) + 1.5
    pdf.set_fill_color(255, 255, 255)
    pdf.set_xy(x1 - label_w, py(det.threshold) - 3.8)
    pdf.cell(label_w, 3, label, align="R", fill=True)
    _legend(pdf, sorted(series), x, y, x0, x1, y1 + 8.5)
    pdf.set_line_width(0.2)


LEGEND_ITEM_W = 23.0


def _legend_rows(identities: int, width: float) -> int:
    """Rows the legend needs below the chart (0: it fits in the title row)."""
    if identities * LEGEND_ITEM_W <= width - 70:
        return 0
    return math.ceil(identities / _legend_per_row(width))


def _legend_per_row(width: float) -> int:
    return max(int((width - 13) // LEGEND_ITEM_W), 1)


def _legend(pdf: _ReportPDF, identities: list[int], x: float, y: float, x0: float, x1: float, below: float) -> None:
    """Colour key: right-aligned in the title row when it fits there, else in rows under the time axis."""
    rows = _legend_rows(len(identities), x1 - x)
    per_row = len(identities) if rows == 0 else _legend_per_row(x1 - x)
    for n, identity in enumerate(identities):
        if rows == 0:
            lx, ly = x1 - LEGEND_ITEM_W * (len(identities) - n), y + 1
        else:
            lx, ly = x0 + LEGEND_ITEM_W * (n % per_row), below + 4 * (n // per_row)
        colour = IDENTITY_COLOURS[n % len(IDENTITY_COLOURS)]
        pdf.set_draw_color(*colour)
        pdf.set_line_width(0.8)
        pdf.line(lx, ly + 1.5, lx + 5, ly + 1.5)
        pdf.font(7, colour=INK)
        pdf.set_xy(lx + 6, ly)
        pdf.cell(LEGEND_ITEM_W - 6, 3, f"identity {identity}")


def _polyline(pdf: _ReportPDF, points: list[tuple[float, float]]) -> None:
    if len(points) >= 2:
        pdf.polyline(points)


def _frames_section(pdf: _ReportPDF, result: AnalysisResult, media: dict, picks: list[_Pick]) -> None:
    photo = media.get("kind") == "image"
    pdf.section("6  Analysed faces" if photo else "6  Most suspicious frames", space=75)
    if not picks:
        pdf.paragraph("No face images were stored with this analysis.")
        return
    plural = "s" if len(picks) > 1 else ""
    what = (f"the {len(picks)} most suspicious face{plural} of the image" if photo else
            f"the {len(picks)} distinct frame{plural} with the highest fake score (any detector)")
    pdf.paragraph(f"Visual evidence for {what}. Left to right: the {'image' if photo else 'frame'} with the detected "
                  "face boxed; the aligned face crop the detectors scored, with the patch MFCLIP examined outlined in "
                  "blue; HAMLET-FFD's attention over the crop (brighter, yellow = weighed more); the SRM noise "
                  "residual of MFCLIP's patch.", size=8.5, colour=MUTED)
    for rank, pick in enumerate(picks, start=1):
        _frame_panel(pdf, rank, pick, result, media)


@dataclass
class _Pick:
    key: str
    frame: FrameRecord
    faces: dict[str, FaceRecord]   # detector -> its record of this face
    suspicion: float


def _suspicious_frames(result: AnalysisResult, top: int, per_frame: bool = True) -> list[_Pick]:
    """The `top` distinct frames whose most suspicious stored face scores highest under any detector (for a photo,
    `per_frame=False`: its `top` most suspicious faces)."""
    by_key: dict[str, _Pick] = {}
    for det_name, det in result.detectors.items():
        for frame in det.frames:
            for face in frame.faces:
                pick = by_key.setdefault(face.key, _Pick(face.key, frame, {}, -math.inf))
                pick.faces[det_name] = face
                pick.suspicion = max(pick.suspicion, face.score)
    best: dict = {}
    for pick in by_key.values():
        if pick.key not in result.artifacts:
            continue
        slot = pick.frame.index if per_frame else pick.key
        current = best.get(slot)
        if current is None or pick.suspicion > current.suspicion:
            best[slot] = pick
    return sorted(best.values(), key=lambda p: (-p.suspicion, p.frame.index, p.key))[:top]


def _frame_panel(pdf: _ReportPDF, rank: int, pick: _Pick, result: AnalysisResult, media: dict) -> None:
    images = result.artifacts.get(pick.key, {})
    side = 37.0
    height = 11 + side + 6
    if pdf.will_page_break(height):
        pdf.add_page()
    x, y = pdf.l_margin, pdf.get_y()
    face = next(iter(pick.faces.values()))
    photo = media.get("kind") == "image"
    where = "Image" if photo else f"Frame {pick.frame.index}  ·  time {_clock(pick.frame.time_s, precise=True)}"
    pdf.font(9.5, "B", colour=ACCENT)
    pdf.set_xy(x, y)
    pdf.cell(0, 5, f"#{rank}   {where}  ·  identity {face.identity}  ·  face {pick.key}")
    scores = []
    for det_name, record in pick.faces.items():
        det = result.detectors[det_name]
        flag = "at/above" if record.score >= det.threshold else "below"
        scores.append(f"{_title(det_name)} {record.score:.4f} ({flag} threshold {det.threshold:.2f})")
    pdf.font(8.3)
    pdf.set_xy(x, y + 5)
    pdf.cell(0, 4.5, "   ·   ".join(scores))
    top = y + 11

    # frame thumbnail with the face box
    frame_w = 0.0
    thumb = _decode(images.get("frame.jpg"))
    if thumb is not None:
        th, tw = thumb.shape[:2]
        scale = min(62 / tw, side / th)
        frame_w, frame_h = tw * scale, th * scale
        pdf.image(io.BytesIO(images["frame.jpg"]), x=x, y=top, w=frame_w, h=frame_h)
        full_w = media.get("width") or tw
        s = frame_w / full_w
        bx0, by0, bx1, by1 = face.box
        pdf.set_draw_color(*BOX_COLOUR)
        pdf.set_line_width(0.45)
        pdf.rect(x + bx0 * s, top + by0 * s, (bx1 - bx0) * s, (by1 - by0) * s)
        _label(pdf, x, top + side + 0.8, frame_w, "image, face boxed" if photo else "frame, face boxed")
    cursor = x + max(frame_w, 0) + 4

    crop = _decode(images.get("crop.jpg"))
    slots = [("crop", "face crop, MFCLIP patch outlined"), ("attention", "HAMLET-FFD attention"),
             ("srm", "MFCLIP SRM noise of the patch")]
    gap = (pdf.l_margin + pdf.content_width - cursor - 3 * side) / 2
    gap = max(min(gap, 8), 2)
    for kind, caption in slots:
        picture = None
        if kind == "crop" and crop is not None:
            picture = io.BytesIO(images["crop.jpg"])
        elif kind == "attention" and crop is not None and "hamlet.attention.png" in images:
            picture = _attention_overlay(crop, images["hamlet.attention.png"])
        elif kind == "srm" and "mfclip.srm.png" in images:
            picture = io.BytesIO(images["mfclip.srm.png"])
        if picture is None:
            _placeholder(pdf, cursor, top, side)
        else:
            pdf.image(picture, x=cursor, y=top, w=side, h=side)
        if kind == "crop" and crop is not None and "mfclip" in pick.faces:
            box = pick.faces["mfclip"].patch_box
            if box:
                size = result.detectors["mfclip"].model.get("input_size") or crop.shape[1]
                s = side / size
                pdf.set_draw_color(*PATCH_COLOUR)
                pdf.set_line_width(0.5)
                pdf.rect(cursor + box[0] * s, top + box[1] * s, (box[2] - box[0]) * s, (box[3] - box[1]) * s)
        _label(pdf, cursor - 3, top + side + 0.8, side + 6, caption)
        cursor += side + gap
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.2)
    pdf.line(x, y + height, x + pdf.content_width, y + height)
    pdf.set_y(y + height + 3)


def _attention_overlay(crop_rgb: np.ndarray, png: bytes) -> Image.Image | None:
    attention = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    if attention is None:
        return None
    return Image.fromarray(overlay(crop_rgb, attention.astype(np.float32) / 255.0, alpha=0.5))


def _label(pdf: _ReportPDF, x: float, y: float, w: float, text: str) -> None:
    pdf.font(6.8, colour=MUTED)
    pdf.set_xy(x, y)
    pdf.cell(w, 3.5, text, align="C")


def _placeholder(pdf: _ReportPDF, x: float, y: float, side: float) -> None:
    pdf.set_fill_color(*ZEBRA)
    pdf.set_draw_color(*RULE)
    pdf.rect(x, y, side, side, style="DF")
    pdf.font(7, colour=MUTED)
    pdf.set_xy(x, y + side / 2 - 2)
    pdf.cell(side, 4, "not available", align="C")


def _methodology(pdf: _ReportPDF, result: AnalysisResult) -> None:
    pdf.section("7  Methodology", space=60)
    settings = result.settings or {}
    pdf.paragraph(
        "The evidence file was opened read-only and its SHA-256 hash computed before analysis; the hash printed on "
        "every page identifies exactly which file this report describes. Frames were sampled as listed in section 3. "
        "In each frame, faces were located (MediaPipe face detection and landmarks), followed across frames as "
        "identities, aligned and cropped. Each detector scored every face crop with a fake score between 0 and 1. "
        f"For each identity the frame scores were combined ({settings.get('aggregation', 'mean')}); the video score "
        "is the highest identity score, because one manipulated face is enough to make footage manipulated. A "
        "detector's verdict is FAKE when its video score is at or above its threshold, REAL otherwise.")
    pdf.subheading("HAMLET-FFD")
    pdf.paragraph(
        "Hierarchical Adaptive Multi-modal Learning Embeddings Transformation for Face Forgery Detection (J. Cui, "
        "J. Du, Y. Li, L. Gao, H. Jiang, C. Bao; arXiv:2507.20913, 2025). It builds on CLIP, a large model trained "
        "on generic images and their captions, whose weights stay frozen. HAMLET-FFD reads CLIP's image features at "
        "several depths and lets a small set of learned 'authenticity' descriptions (real, fake and context) and the "
        "visual features refine each other. The score reflects whether the face lies closer to the learned "
        "description of genuine faces or of manipulated ones. The attention image shows which regions of the crop "
        "weighed most in that comparison: an aid for inspection, not a map of manipulated pixels.")
    pdf.subheading("MFCLIP")
    pdf.paragraph(
        "Multi-modal Fine-grained CLIP (Y. Zhang, T. Wang, Z. Yu, Z. Gao, L. Shen, S. Chen: \"MFCLIP: Multi-modal "
        "Fine-grained CLIP for Generalizable Diffusion Face Forgery Detection\", arXiv:2409.09724, 2024). It also builds on CLIP and, "
        "besides the whole face, examines fine noise: the most textured patch of the face (chosen by grey-level "
        "co-occurrence statistics) is passed through SRM high-pass filters, which suppress the picture content and "
        "expose the noise traces that face generators and blending tend to leave. During training these image and "
        "noise views are aligned with hierarchical text descriptions of forgery types; at analysis time a classifier "
        "on the combined image and noise features gives the score. The SRM image shows that patch's filtered noise.")


def _limitations(pdf: _ReportPDF, result: AnalysisResult) -> None:
    pdf.section("8  Limitations: what a score does and does not mean", space=60)
    models = sorted({str((d.model or {}).get("name", "?")) for d in result.detectors.values()})
    pdf.bullets([
        "A score is a model's estimate, not proof. A score at or above the threshold means only that, to this model, "
        "the face resembles the manipulated faces it learned from; a score below means it does not. Neither "
        "establishes that the footage is, or is not, manipulated.",
        "Thresholds trade false alarms against missed forgeries. They were chosen on validation data described in "
        "the model card and may not suit every case; a score close to the threshold is weak evidence either way.",
        "Heavy compression, re-encoding (for example by messaging apps and social networks), low resolution, small, "
        "blurred, occluded or strongly lit faces, filters and screen recordings can raise or lower scores.",
        "Manipulation methods unlike those in the training data (new generators, new editing tools) can go "
        "undetected, and genuine footage unlike the training data can be flagged.",
        f"The models used ({', '.join(models)}) learned from specific training data, documented in their model "
        "cards; accuracy on other people, cameras, lighting and content can differ.",
        "The two detectors work differently and can disagree; disagreement is itself a reason for caution.",
        "Only faces that were found are examined. Other edits (audio, background, splicing, cuts, timing) are not "
        "assessed, and a face missed by the face detector is not scored.",
        "This report must never be the sole basis of a decision. Weigh it together with the provenance of the file, "
        "its metadata, other forensic examinations and review by a qualified expert.",
    ], size=8.8)


# ------------------------------------------------------------------------------------------------ helpers


def _series(frames: list[FrameRecord]) -> dict[int, list[tuple[float, float]]]:
    series: dict[int, list[tuple[float, float]]] = {}
    for frame in frames:
        for face in frame.faces:
            series.setdefault(face.identity, []).append((frame.time_s, face.score))
    for pts in series.values():
        pts.sort()
    return series


def _typical_step(times: list[float]) -> float:
    unique = sorted(set(times))
    if len(unique) < 2:
        return 0.0
    return float(np.median(np.diff(unique)))


def _nice_step(span: float) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if span / step <= 10:
            return float(step)
    return float(10 ** math.ceil(math.log10(span / 10)))


def _clock(seconds: float, precise: bool = False) -> str:
    seconds = max(float(seconds), 0.0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:05.2f}" if precise else f"{secs:04.1f}".removesuffix(".0").zfill(2)
    return f"{int(hours)}:{int(minutes):02d}:{text}" if hours >= 1 else f"{int(minutes)}:{text}"


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _title(detector: str) -> str:
    return DETECTOR_TITLES.get(detector, detector)


def _verdict_word(verdict: str) -> str:
    return {"fake": "FAKE", "real": "REAL", "no-face": "NO FACE"}.get(verdict, verdict.upper())


def _plain_verdict(det_name: str, det: DetectorResult, what: str = "video score") -> str:
    if det.video_score is None:
        return f"{_title(det_name)}: no face could be scored, so this detector gives no verdict."
    if det.verdict == "fake":
        return (f"{_title(det_name)}: the {what} {det.video_score:.4f} is at or above the threshold "
                f"{det.threshold:.4f}, so this model flags the face(s) as likely manipulated.")
    return (f"{_title(det_name)}: the {what} {det.video_score:.4f} is below the threshold "
            f"{det.threshold:.4f}, so this model does not flag the face(s) as manipulated.")


def _sampling_text(sampling: dict | None) -> str:
    if not sampling:
        return "?"
    mode, value = sampling.get("mode"), sampling.get("value")
    if mode == "all":
        return "every frame"
    if mode == "fps":
        return f"{value:g} frame{'s' if value != 1 else ''} per second"
    if mode == "count":
        return f"{int(value)} frames spread evenly over the video"
    return f"{mode} {value}"


def _pretty_time(stamp: str) -> str:
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"):
        try:
            parsed = time.strptime(stamp, fmt)
        except (ValueError, TypeError):
            continue
        offset = stamp[19:]
        return time.strftime("%Y-%m-%d %H:%M:%S", parsed) + (f" (UTC{offset[:3]}:{offset[3:]})" if offset else "")
    return stamp or "?"


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _decode(data: bytes | None) -> np.ndarray | None:
    """JPEG/PNG bytes -> RGB array, or None when missing or unreadable."""
    if not data:
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _latin1(text: str) -> str:
    """Core-font fallback: keep what Latin-1 can hold, transliterate the rest (Ø stays, № -> No., ł -> l, ...)."""
    out = []
    for char in text:
        if char in LATIN1_REPLACEMENTS:
            out.append(LATIN1_REPLACEMENTS[char])
            continue
        try:
            char.encode("latin-1")
            out.append(char)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
            out.append(base or "?")
    return "".join(out)
