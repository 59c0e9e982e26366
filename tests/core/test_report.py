"""The PDF case report of real analyses: content read back with pypdf, every page rendered with pypdfium2."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader

import core.report as report
from core.cases import CaseStore
from core.report import write_report
from core.results import AnalysisResult
from tests.conftest import require_data

NOTES = "Zoë Ødegård – №42: received on a USB stick; copy verified against the hash."


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from core.models import load_model, read_bundle

    return load_model(read_bundle(tiny_model_dir), ["hamlet", "mfclip"])


@pytest.fixture(scope="module")
def video_result(model) -> AnalysisResult:
    from core.engine.pipeline import AnalysisSettings, analyze
    from core.media import Sampling

    video = require_data("ffpp_c23_videos", "fake", "519_515.mp4")
    return analyze(str(video), AnalysisSettings(sampling=Sampling("fps", 1.0)), model)


@pytest.fixture(scope="module")
def photo_result(model) -> AnalysisResult:
    from core.engine.pipeline import AnalysisSettings, analyze

    photo = sorted(require_data("ffhq_stylegan", "fake").glob("*.jpg"))[0]
    return analyze(str(photo), AnalysisSettings(), model)


def pdf_text(path) -> tuple[str, int]:
    reader = PdfReader(str(path))
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


def words(text: str) -> str:
    return " ".join(text.split())


def render_pages(path, scale: float = 0.6) -> list[np.ndarray]:
    doc = pdfium.PdfDocument(str(path))
    try:
        return [np.asarray(doc[i].render(scale=scale).to_pil().convert("L")) for i in range(len(doc))]
    finally:
        doc.close()


def assert_pages_render(path, tmp_path) -> None:
    pages = render_pages(path)
    for n, page in enumerate(pages, start=1):
        assert page.std() > 12, f"page {n} looks blank"
    doc = pdfium.PdfDocument(str(path))   # one page kept as an image, for a human look at the layout
    doc[0].render(scale=1.5).to_pil().save(tmp_path / "page1.png")
    doc.close()


def test_report_of_a_video_analysis(video_result, tmp_path):
    out = write_report(video_result, tmp_path / "report.pdf", case_number="2024-117", examiner="J. Doe",
                       notes=NOTES)
    assert out == tmp_path / "report.pdf"
    text, pages = pdf_text(out)
    assert pages >= 2
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    sha = video_result.file["sha256"]
    assert text.count(sha) >= pages          # in the footer of every page (and in the evidence section)
    assert "2024-117" in text and "J. Doe" in text and "Zoë Ødegård – №42" in text
    assert "519_515.mp4" in text and "h264" in text and "640 × 480" in text and "25.000 fps" in text
    for name, title in (("hamlet", "HAMLET-FFD"), ("mfclip", "MFCLIP")):
        det = video_result.detectors[name]
        assert title in text
        assert det.model["weights_sha256"] in text and det.model["detector_sha256"] in text
        assert f"{det.video_score:.4f}" in text
        assert f"{det.threshold:.4f}" in text
        for identity in det.identities:
            assert f"Identity {identity.id}: {identity.score:.4f}" in text
    verdicts = {d.verdict.upper() for d in video_result.detectors.values()}
    assert all(word in text for word in verdicts)
    assert "2507.20913" in text and "Zhang" in text            # methodology cites the papers
    assert "not proof" in words(text) and "never be the sole basis of a decision" in words(text)  # the caution
    assert "Most suspicious frames" in text and "Score timeline" in text
    assert_pages_render(out, tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["page1.png", "report.pdf"]


def test_report_of_a_photo(photo_result, tmp_path):
    out = write_report(photo_result, tmp_path / "photo.pdf", examiner="Zoë Ødegård", notes=NOTES)
    text, pages = pdf_text(out)
    assert pages >= 2
    assert photo_result.file["sha256"] in text and "Zoë Ødegård" in text and "Page 1 of" in text
    assert "single image" in text and "Analysed faces" in text
    for det in photo_result.detectors.values():
        assert f"{det.video_score:.4f}" in text and det.verdict.upper() in text
    assert "cut at 1.3x the face detector's box; scored as cut" in words(text)
    assert_pages_render(out, tmp_path)


def test_report_names_how_faces_were_prepared(photo_result, tmp_path):
    """JPEG storage and mirror averaging change every score, so the report says when they were used."""
    import copy

    result = copy.deepcopy(photo_result)
    for det in result.detectors.values():
        det.model.update(crop_margin=1.1, crop_jpeg={"side": 299, "quality": 95}, mirror=True)
    text = words(pdf_text(write_report(result, tmp_path / "mirror.pdf"))[0])
    assert text.count("cut at 1.1x the face detector's box; stored as 299 px JPEG of quality 95; scored as it is "
                      "and as its mirror image, the two averaged") == len(result.detectors)


def test_write_is_atomic_and_a_failed_write_keeps_the_old_report(video_result, tmp_path, monkeypatch):
    target = tmp_path / "report.pdf"
    write_report(video_result, target, case_number="first")
    write_report(video_result, target, case_number="second")       # replaced, not appended to
    assert "second" in pdf_text(target)[0] and "first" not in pdf_text(target)[0]
    good = target.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("layout failed")

    with monkeypatch.context() as m:                                # fails while building
        m.setattr(report, "_methodology", broken)
        with pytest.raises(RuntimeError, match="layout failed"):
            write_report(video_result, target, case_number="third")
    assert target.read_bytes() == good

    real_write = pathlib.Path.write_bytes

    def half_then_crash(self, data):                                # fails half-way through writing the file
        real_write(self, data[: len(data) // 2])
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(pathlib.Path, "write_bytes", half_then_crash)
        with pytest.raises(OSError, match="disk full"):
            write_report(video_result, target, case_number="fourth")
    assert target.read_bytes() == good
    assert os.listdir(tmp_path) == ["report.pdf"]                  # no temporary file left behind
    assert PdfReader(str(target)).pages  # still a readable PDF


def test_core_font_fallback_still_prints_non_latin_text(photo_result, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "find_fonts", lambda: None)
    out = write_report(photo_result, tmp_path / "latin1.pdf", examiner="Zoë Ødegård", notes=NOTES)
    text, _ = pdf_text(out)
    assert "Zoë Ødegård - No.42" in text     # Latin-1 kept, the rest transliterated, nothing crashes
    assert photo_result.file["sha256"] in text
    assert_pages_render(out, tmp_path)


def test_bundled_unicode_fonts_are_found():
    fonts = report.find_fonts()
    assert fonts is not None and all(path.is_file() for path in fonts.values())


def test_report_of_a_reopened_case_matches(video_result, tmp_path):
    with CaseStore(tmp_path / "cases.sqlite3") as store:
        reopened = store.load(store.save(video_result))
    first, _ = pdf_text(write_report(video_result, tmp_path / "a.pdf", case_number="7"))
    second, _ = pdf_text(write_report(reopened, tmp_path / "b.pdf", case_number="7"))
    drop = [line for line in first.splitlines() if not line.startswith("Report generated")]
    assert drop == [line for line in second.splitlines() if not line.startswith("Report generated")]


# ---- real case text: long notes and non-Latin scripts (no analysis needed: a result without detectors)

SCRIPTS = {"greek": "Ελληνικά στοιχεία", "cyrillic": "Русский текст", "hebrew": "עברית שלום",
           "arabic": "العربية مرحبا", "chinese": "中文案件编号", "japanese": "日本語のテキスト"}


@pytest.fixture
def bare_result() -> AnalysisResult:
    return AnalysisResult(file={"path": "/evidence/a.jpg", "sha256": "ab" * 32, "size": 10,
                                "media": {"kind": "image"}}, settings={})


def embedded_fonts(path) -> set[str]:
    reader = PdfReader(str(path))
    return {str(font["/BaseFont"]).split("+")[-1] for page in reader.pages
            for font in page["/Resources"]["/Font"].values()}


@pytest.mark.parametrize(("notes", "middle"), [
    ("\n".join(f"line {n:03d}: " + "received, hashed and sealed; " * 2 for n in range(400)) + "\nEND-OF-NOTES",
     "line 200:"),
    ("evidence " * 2222 + "END-OF-NOTES", "evidence " * 30),    # 20,000 characters in one paragraph
], ids=["400 lines", "20000 characters"])
def test_long_notes_flow_across_pages(bare_result, tmp_path, notes, middle):
    assert len(notes) >= 20_000
    out = write_report(bare_result, tmp_path / "long.pdf", case_number="7", notes=notes)
    text, pages = pdf_text(out)
    assert pages >= 5 and f"Page {pages} of {pages}" in text
    assert "END-OF-NOTES" in text and middle.strip() in words(text)     # the end and the middle are there
    assert words(text).count("evidence") >= notes.count("evidence")     # no piece of the notes lost
    assert "Findings" in text and "Limitations" in text                 # the rest of the report follows
    assert len(render_pages(out, scale=0.2)) == pages


def test_case_fields_print_in_every_script(bare_result, tmp_path):
    out = write_report(bare_result, tmp_path / "intl.pdf", case_number="案件 2024-117 Дело",
                       examiner="Ελένη Петрова שלום", notes="\n".join(SCRIPTS.values()))
    text, _ = pdf_text(out)
    for script, sample in SCRIPTS.items():
        assert sample in text, script
    assert "案件 2024-117 Дело" in text and "Ελένη Петрова" in text and "שלום" in text
    assert "\ufffd" not in text                              # every character had a glyph
    assert {"DroidSansFallback", "DejaVuSansBook"} <= embedded_fonts(out)   # CJK came from the fallback font
    assert render_pages(out)[0].std() > 12


def test_fallback_fonts_fill_what_dejavu_lacks(bare_result, tmp_path):
    out = write_report(bare_result, tmp_path / "ext.pdf", notes="Quranic \u0671 and cantillated Hebrew \u05d1\u0591")
    text, _ = pdf_text(out)
    assert "\u0671" in text and "\ufffd" not in text
    assert {"NotoSansArabic", "NotoSansHebrew"} <= embedded_fonts(out)


def test_arabic_is_shaped(bare_result, tmp_path):
    out = write_report(bare_result, tmp_path / "ar.pdf", notes="مرحبا")
    doc = pdfium.PdfDocument(str(out))
    try:
        page = doc[0].get_textpage()
        assert "مرحبا" in words(page.get_text_range())
    finally:
        doc.close()
    # shaped: joined letter forms give the word another width than its isolated letters side by side
    pdf = report._ReportPDF("x", "x", report.find_fonts())
    pdf.add_page()
    pdf.font(9)
    joined = pdf.get_string_width("مرحبا")
    pdf.set_text_shaping(False)
    assert joined != pytest.approx(pdf.get_string_width("مرحبا"))


def test_undrawable_characters_are_replaced_visibly(bare_result, tmp_path):
    text, _ = pdf_text(write_report(bare_result, tmp_path / "emoji.pdf", case_number="A🧿1",
                                    examiner="Kim 한국", notes="seal \U000f0000 intact"))
    assert "A\ufffd1" in text and "Kim \ufffd\ufffd" in text and "seal \ufffd intact" in text
