"""The case store on real SQLite files with a real analysis: round trip, listing, cascade, WAL, crash safety."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.cases import (
    SCHEMA_VERSION,
    CaseNotFoundError,
    CaseStore,
    CaseStoreDamagedError,
    CaseStoreError,
    move_aside,
)
from core.results import AnalysisResult
from tests.conftest import require_data

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def result(tiny_model_dir) -> AnalysisResult:
    from core.engine.pipeline import AnalysisSettings, analyze
    from core.media import Sampling
    from core.models import load_model, read_bundle

    video = require_data("ffpp_c23_videos", "fake", "519_515.mp4")
    model = load_model(read_bundle(tiny_model_dir), ["hamlet", "mfclip"])
    return analyze(str(video), AnalysisSettings(sampling=Sampling("fps", 1.0)), model)


def copy_of(result: AnalysisResult) -> AnalysisResult:
    return AnalysisResult.from_json(result.to_json(include_artifacts=True))


def test_save_then_load_gives_back_the_identical_result(result, tmp_path):
    assert result.artifacts and set(result.detectors) == {"hamlet", "mfclip"}
    with CaseStore(tmp_path / "cases.sqlite3") as store:
        case_id = store.save(result, case_number="2024-117", examiner="J. Doe", notes="first look")
        loaded = store.load(case_id)
    assert loaded.to_dict(include_artifacts=True) == result.to_dict(include_artifacts=True)
    assert loaded.to_json(include_artifacts=True) == result.to_json(include_artifacts=True)  # same order too
    assert loaded.artifacts == result.artifacts
    # a fresh connection (a later session of the app) reads the same thing
    with CaseStore(tmp_path / "cases.sqlite3") as store:
        assert store.load(case_id).to_dict(include_artifacts=True) == result.to_dict(include_artifacts=True)


def test_default_store_lives_in_the_app_data_dir(result, tmp_path, monkeypatch):
    monkeypatch.setenv("FFD_DATA_DIR", str(tmp_path / "data"))
    with CaseStore() as store:
        store.save(result)
        assert store.path == tmp_path / "data" / "cases.sqlite3"
    assert (tmp_path / "data" / "cases.sqlite3").is_file()


def test_list_summaries_and_search(result, tmp_path):
    other = copy_of(result)
    other.file = {**other.file, "path": "/evidence/interview_100%_final.mp4", "sha256": "ab" * 32}
    other.detectors["mfclip"].verdict = "fake"
    with CaseStore(tmp_path / "cases.sqlite3") as store:
        first = store.save(result, case_number="2024-117", examiner="J. Doe")
        second = store.save(other, case_number="2024-200", examiner="Zoë Ødegård", notes="second source")
        everything = store.list()
        assert [c.id for c in everything] == [second, first]  # newest first
        summary = everything[1]
        assert summary.file_name == "519_515.mp4"
        assert summary.sha256 == result.file["sha256"] and summary.size == result.file["size"]
        assert summary.case_number == "2024-117" and summary.examiner == "J. Doe" and summary.notes is None
        assert summary.verdict == result.verdict
        for name, det in result.detectors.items():
            assert summary.detectors[name].verdict == det.verdict
            assert summary.detectors[name].score == det.video_score
            assert summary.detectors[name].threshold == det.threshold
        assert everything[0].verdict == "fake" and everything[0].detectors["mfclip"].verdict == "fake"

        def ids(search):
            return [c.id for c in store.list(search=search)]

        assert ids("519_515") == [first]
        assert ids("2024-2") == [second]
        assert ids("ØDEGÅRD") == [second] and ids("zoë") == [second]   # Unicode case folding
        assert ids(result.file["sha256"][:12]) == [first]
        assert ids("SECOND source") == [second]          # case-insensitive
        assert ids("100%") == [second] and ids("%") == [second]   # no wildcards: "%" is just a character
        assert ids("_") == [second, first]
        assert ids("nothing like this") == []
        assert ids("   ") == [second, first]
        assert len(store.list(limit=1)) == 1 and store.list(limit=1, offset=1)[0].id == first
        assert [c.id for c in store.find_by_sha256(result.file["sha256"].upper())] == [first]
        assert store.find_by_sha256("00" * 32) == []
        assert store.count() == 2


def test_update_metadata(result, tmp_path):
    with CaseStore(tmp_path / "cases.sqlite3") as store:
        case_id = store.save(result, case_number="1", examiner="A", notes="n")
        assert store.summary(case_id).updated_at is None
        store.update_metadata(case_id, notes="Zoë Ødegård – №42")
        summary = store.summary(case_id)
        assert (summary.case_number, summary.examiner, summary.notes) == ("1", "A", "Zoë Ødegård – №42")
        assert summary.updated_at is not None
        store.update_metadata(case_id, case_number="2024-9", examiner=None)
        summary = store.summary(case_id)
        assert (summary.case_number, summary.examiner, summary.notes) == ("2024-9", None, "Zoë Ødegård – №42")
        with pytest.raises(CaseNotFoundError):
            store.update_metadata(case_id + 1, notes="x")
        with pytest.raises(TypeError):
            store.update_metadata(case_id, notes=42)
        # metadata is not part of the analysis: the stored result is untouched
        assert store.load(case_id).to_dict(include_artifacts=True) == result.to_dict(include_artifacts=True)


def test_delete_cascades_to_detector_rows_and_artifacts(result, tmp_path):
    path = tmp_path / "cases.sqlite3"
    with CaseStore(path) as store:
        keep = store.save(result)
        gone = store.save(result)
        store.delete(gone)
        with pytest.raises(CaseNotFoundError):
            store.load(gone)
        with pytest.raises(CaseNotFoundError):
            store.delete(gone)
        assert [c.id for c in store.list()] == [keep]
    db = sqlite3.connect(path)
    for table in ("detector_results", "artifacts"):
        assert db.execute(f"SELECT COUNT(*) FROM {table} WHERE analysis_id = ?", (gone,)).fetchone()[0] == 0
        assert db.execute(f"SELECT COUNT(*) FROM {table} WHERE analysis_id = ?", (keep,)).fetchone()[0] > 0
    n_artifacts = sum(len(items) for items in result.artifacts.values())
    assert db.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == n_artifacts
    db.close()


def test_wal_mode_pragmas_and_schema_version(tmp_path):
    path = tmp_path / "cases.sqlite3"
    with CaseStore(path) as store:
        assert store.journal_mode == "wal"
        assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store.schema_version == SCHEMA_VERSION
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    assert db.execute("SELECT version FROM schema_migrations").fetchall() == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(CaseStoreError, match="newer"):
        CaseStore(path)


def test_damaged_record_is_refused_on_load(result, tmp_path):
    path = tmp_path / "cases.sqlite3"
    with CaseStore(path) as store:
        case_id = store.save(result)
    db = sqlite3.connect(path)
    db.execute("UPDATE artifacts SET data = x'00' WHERE rowid = (SELECT MIN(rowid) FROM artifacts)")
    db.commit()
    db.close()
    with CaseStore(path) as store, pytest.raises(CaseStoreError, match="damaged"):
        store.load(case_id)


class _Gate:
    """An artifact value that pauses the save inside its transaction until the test lets it go."""

    def __init__(self):
        self.inside = threading.Event()
        self.release = threading.Event()

    def __bytes__(self) -> bytes:
        self.inside.set()
        assert self.release.wait(30), "test never released the writer"
        return b"gate"


def test_readers_are_not_blocked_while_a_save_is_in_progress(result, tmp_path):
    path = tmp_path / "cases.sqlite3"
    with CaseStore(path) as store:
        old = store.save(result)
    slow = copy_of(result)
    gate = _Gate()
    slow.artifacts["zz:0"] = {"gate.bin": gate}
    outcome = {}

    def write():
        with CaseStore(path) as writer:
            outcome["id"] = writer.save(slow)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        assert gate.inside.wait(60), "the writer never reached its artifacts"
        with CaseStore(path) as reader:    # opening, listing and loading while the write transaction is open
            assert [c.id for c in reader.list()] == [old]
            assert reader.load(old).to_dict(include_artifacts=True) == result.to_dict(include_artifacts=True)
    finally:
        gate.release.set()
        thread.join(60)
    assert not thread.is_alive()
    with CaseStore(path) as reader:
        assert [c.id for c in reader.list()] == [outcome["id"], old]
        assert reader.load(outcome["id"]).artifacts["zz:0"] == {"gate.bin": b"gate"}


KILLED_MID_SAVE = r"""
import os, signal, sys
from core.cases import CaseStore
from core.results import AnalysisResult

class Bomb:
    def __bytes__(self):
        os.kill(os.getpid(), signal.SIGKILL)   # die inside the transaction, after many rows were written

result = AnalysisResult.from_json(open(sys.argv[2]).read())
for i in range(48):                            # ~24 MB of images: far more than SQLite's page cache, so
    result.artifacts[f"big:{i}"] = {"blob.bin": os.urandom(512 * 1024)}   # uncommitted pages spill to the WAL
result.artifacts["big:last"] = {"bomb.bin": Bomb()}
with CaseStore(sys.argv[1]) as store:
    store.save(result, case_number="never committed")
print("unreachable")
"""


def test_a_process_killed_mid_save_leaves_no_partial_analysis(result, tmp_path):
    path = tmp_path / "cases.sqlite3"
    with CaseStore(path) as store:
        old = store.save(result, case_number="kept")
    source = tmp_path / "result.json"
    source.write_text(result.to_json(include_artifacts=True))

    proc = subprocess.run([sys.executable, "-c", KILLED_MID_SAVE, str(path), str(source)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "unreachable" not in proc.stdout
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 8 * 1024 * 1024  # the half-done transaction really reached the disk

    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert db.execute("SELECT id, case_number FROM analyses").fetchall() == [(old, "kept")]
    assert db.execute("SELECT DISTINCT analysis_id FROM artifacts").fetchall() == [(old,)]
    assert db.execute("SELECT DISTINCT analysis_id FROM detector_results").fetchall() == [(old,)]
    assert db.execute("SELECT COUNT(*) FROM artifacts WHERE face_key LIKE 'big:%'").fetchone()[0] == 0
    db.close()

    with CaseStore(path) as store:       # the app opens it normally, the old case is intact, saving works again
        assert store.integrity_check() == "ok"
        assert store.load(old).to_dict(include_artifacts=True) == result.to_dict(include_artifacts=True)
        new = store.save(result, case_number="after the crash")
        assert [c.case_number for c in store.list()] == ["after the crash", "kept"]
        assert new != old


def test_summaries_do_not_read_the_result_json(result, tmp_path):
    """Listing stays cheap: the summary comes from the small columns (checked by making the JSON unreadable)."""
    path = tmp_path / "cases.sqlite3"
    with CaseStore(path) as store:
        case_id = store.save(result)
    db = sqlite3.connect(path)
    models = json.loads(db.execute("SELECT models_json FROM analyses").fetchone()[0])
    assert models["hamlet"]["detector_sha256"] == result.detectors["hamlet"].model["detector_sha256"]
    assert json.loads(db.execute("SELECT settings_json FROM analyses").fetchone()[0]) == result.settings
    db.execute("UPDATE analyses SET result_json = 'not json'")
    db.commit()
    db.close()
    with CaseStore(path) as store:
        statements = []
        store._db.set_trace_callback(statements.append)
        assert store.list()[0].id == case_id
        assert store.list(search="519")[0].id == case_id
        assert store.find_by_sha256(result.file["sha256"])[0].id == case_id
        assert statements and not any("result_json" in sql or "*" in sql or "artifacts" in sql for sql in statements)
        store._db.set_trace_callback(None)
        with pytest.raises(CaseStoreError):
            store.load(case_id)


@pytest.mark.parametrize("damage", ["random bytes", "truncated header", "truncated half"])
def test_a_damaged_store_is_a_case_store_error_naming_the_file(result, tmp_path, damage):
    import os

    path = tmp_path / "cases.sqlite3"
    with CaseStore(path) as store:
        store.save(result)
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes({"random bytes": os.urandom(len(data)), "truncated header": data[:100],
                      "truncated half": data[:len(data) // 2]}[damage])
    with pytest.raises(CaseStoreDamagedError, match="damaged") as caught, CaseStore(path) as store:
        store.list()
    assert str(path) in str(caught.value) and "move-aside" in str(caught.value)
    assert caught.value.exit_code == 5


def test_move_aside_renames_the_store_and_its_wal_never_overwriting(tmp_path):
    path = tmp_path / "cases.sqlite3"
    for suffix, content in (("", b"junk"), ("-wal", b"wal"), ("-shm", b"shm")):
        Path(f"{path}{suffix}").write_bytes(content)
    first = move_aside(path)
    assert first.name.startswith("cases.sqlite3.damaged-") and first.read_bytes() == b"junk"
    assert Path(f"{first}-wal").read_bytes() == b"wal" and Path(f"{first}-shm").read_bytes() == b"shm"
    assert not path.exists() and not Path(f"{path}-wal").exists()
    path.write_bytes(b"junk again")                      # damaged again within the same second
    second = move_aside(path)
    assert second != first and second.read_bytes() == b"junk again" and first.read_bytes() == b"junk"
    with CaseStore(path) as store:
        assert store.count() == 0


def test_an_edited_record_is_flagged_in_the_case_list(result, tmp_path):
    """Issue 12: a record edited in the file (verdict, scores) was refused on open, but the case list showed the
    edited verdict as if it were the analysis'. The list now flags it: `altered`, in the app and in `ffd cases list`."""
    path = tmp_path / "cases.sqlite3"
    with CaseStore(path) as store:
        edited, rescored, unchecked, honest = (store.save(result) for _ in range(4))
        store.update_metadata(honest, notes="edited in the app: not an alteration")
    other = "real" if result.verdict == "fake" else "fake"
    db = sqlite3.connect(path)
    db.execute("UPDATE analyses SET verdict = ?, result_json = replace(result_json, '\"verdict\": \"' || verdict || "
               "'\"', '\"verdict\": \"' || ? || '\"') WHERE id = ?", (other, other, edited))
    db.execute("UPDATE detector_results SET verdict = ? WHERE analysis_id = ?", (other, edited))
    db.execute("UPDATE detector_results SET score = 0.01 WHERE analysis_id = ?", (rescored,))
    db.execute("DELETE FROM summary_checks WHERE analysis_id = ?", (unchecked,))
    db.commit()
    db.close()
    with CaseStore(path) as store:
        flags = {c.id: c.altered for c in store.list()}
        assert flags == {edited: True, rescored: True, unchecked: True, honest: False}
        assert store.summary(edited).altered and not store.summary(honest).altered
        with pytest.raises(CaseStoreError, match="damaged"):
            store.load(edited)
        assert store.load(honest).verdict == result.verdict
    listing = subprocess.run([sys.executable, "-m", "core.cli", "cases", "list"], capture_output=True, text=True,
                             env={**os.environ, "FFD_DATA_DIR": str(tmp_path)}, timeout=120)
    lines = {int(line.split()[0][1:]): line for line in listing.stdout.splitlines() if line.startswith("#")}
    assert "ALTERED" in lines[edited] and other not in lines[edited].split()
    assert "ALTERED" not in lines[honest]


def test_cases_saved_before_summary_checks_are_checksummed_on_migration(result, tmp_path):
    path = tmp_path / "cases.sqlite3"
    with CaseStore(path) as store:
        case_id = store.save(result)
    db = sqlite3.connect(path)                  # as a store written by the previous version looked
    db.execute("DROP TABLE summary_checks")
    db.execute("DELETE FROM schema_migrations WHERE version > 1")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with CaseStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert [(c.id, c.altered) for c in store.list()] == [(case_id, False)]
