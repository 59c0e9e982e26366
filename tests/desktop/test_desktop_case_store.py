"""A damaged case store never stops the app: it says so and offers to move the file aside (kept) and start anew."""

from __future__ import annotations

import os

from core.cases import CaseStore
from tests.desktop.conftest import ScriptedPrompts, make_controller


def _damaged_store(tmp_path) -> bytes:
    tmp_path.mkdir(parents=True, exist_ok=True)
    junk = os.urandom(64 * 1024)
    (tmp_path / "cases.sqlite3").write_bytes(junk)
    return junk


def test_damaged_case_store_moved_aside_on_request(qtbot, ffd_app, tmp_path):
    junk = _damaged_store(tmp_path)
    prompts = ScriptedPrompts(confirm=True)            # answers "Yes, move it aside"
    controller = make_controller(tmp_path, None, prompts)
    qtbot.addWidget(controller.window)
    try:
        question = [text for kind, text in prompts.asked if kind == "confirm"]
        assert len(question) == 1 and "cases.sqlite3" in question[0] and "damaged" in question[0]
        moved = [p for p in tmp_path.iterdir() if p.name.startswith("cases.sqlite3.damaged-")]
        assert len(moved) == 1 and moved[0].read_bytes() == junk    # kept, byte for byte, under its new name
        assert moved[0].name in controller.window.banner.text()
        assert controller.history.store is not None and controller.history.count() == 0
        with CaseStore(tmp_path / "cases.sqlite3") as store:      # the fresh store is a healthy, usable database
            assert store.integrity_check() == "ok" and store.count() == 0
            assert store.journal_mode == "wal"
    finally:
        controller.shutdown()


def test_damaged_case_store_left_alone_when_declined(qtbot, ffd_app, tmp_path):
    junk = _damaged_store(tmp_path)
    controller = make_controller(tmp_path, None, ScriptedPrompts(confirm=False))
    qtbot.addWidget(controller.window)
    try:
        assert controller.history.store is None and controller.history.count() == 0
        banner = controller.window.banner.text()
        assert "case store cannot be opened" in banner and "cases.sqlite3" in banner
        assert (tmp_path / "cases.sqlite3").read_bytes() == junk
        assert not [p for p in tmp_path.iterdir() if ".damaged-" in p.name]
    finally:
        controller.shutdown()
