"""What the app says when things go wrong (issue 12 item 8): a log file that exists and is named, file names shown
verbatim in banners, an edited case flagged in the case list."""

from __future__ import annotations

import logging
import logging.handlers
import sqlite3

import pytest

from core.cases import CaseStore
from ffd_desktop import presentation as P
from tests.desktop.conftest import make_controller
from tests.desktop.test_desktop_presentation import two_people


@pytest.fixture
def no_log_handlers_left():
    """install() adds a handler to the root logger: take it off again after the test."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]:
        root.removeHandler(handler)
        handler.close()


def test_internal_error_names_a_rotating_log_that_holds_the_traceback(tmp_path, monkeypatch, no_log_handlers_left):
    from ffd_desktop import logfile
    from ffd_desktop.workers import describe_error

    monkeypatch.setenv("FFD_DATA_DIR", str(tmp_path / "data"))
    try:
        raise RuntimeError("boom in the engine")
    except RuntimeError as exc:
        kind, message = describe_error(exc)
    log = tmp_path / "data" / "logs" / "ffd-desktop.log"
    assert kind == "InternalError" and f"details were written to {log}" in message
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "boom in the engine" in text
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
    assert handler.maxBytes == logfile.MAX_BYTES and handler.backupCount == logfile.BACKUPS
    assert logfile.install() == log                                  # idempotent: still one handler
    assert sum(isinstance(h, logging.handlers.RotatingFileHandler) for h in logging.getLogger().handlers) == 1


def test_banner_messages_keep_file_names_verbatim(qtbot, ffd_app, tmp_path):
    assert P.sentence("no face found in 3 sampled frame(s)") == "No face found in 3 sampled frame(s)."
    assert P.sentence("clip.mp4: not a media file") == "clip.mp4: not a media file."
    assert P.sentence("evidence/ünter.jpg: empty") == "evidence/ünter.jpg: empty."
    controller = make_controller(tmp_path, None)
    qtbot.addWidget(controller.window)
    try:
        controller.analysis._on_failed("evidence/clip.mp4", "BadInputError",
                                       "evidence/clip.mp4: not a media file (the content is text)")
        text = controller.window.banner.text()
        assert "evidence/clip.mp4: not a media file" in text and "Evidence/clip.mp4" not in text
    finally:
        controller.shutdown()


def test_an_edited_case_is_flagged_in_the_case_list(qtbot, ffd_app, tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    with CaseStore(tmp_path / "cases.sqlite3") as store:
        edited, honest = store.save(two_people()), store.save(two_people("/nowhere/other.mp4"))
    db = sqlite3.connect(tmp_path / "cases.sqlite3")
    db.execute("UPDATE analyses SET verdict = 'real' WHERE id = ?", (edited,))
    db.execute("UPDATE detector_results SET verdict = 'real', score = 0.01 WHERE analysis_id = ?", (edited,))
    db.commit()
    db.close()
    controller = make_controller(tmp_path, None)
    qtbot.addWidget(controller.window)
    try:
        controller.history.refresh()
        table = controller.window.history.table
        rows = {controller.window.history.case_id(r): [table.item(r, c).text() for c in range(table.columnCount())]
                for r in range(table.rowCount())}
        assert rows[edited][3] == P.VERDICT_WORDS["altered"] and rows[edited][4:6] == ["altered", "altered"]
        assert "0.010" not in " ".join(rows[edited])                  # the edited score is not shown
        assert rows[honest][3] == P.VERDICT_WORDS["fake"]
    finally:
        controller.shutdown()
