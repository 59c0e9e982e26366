"""The case store: saved analyses in one embedded SQLite file (no server), reopened without recomputing.

One row per saved analysis in `analyses` holds what a case list needs (evidence name, SHA-256, size, when, who,
verdict) plus the full result JSON without its images; one row per detector in `detector_results` holds that
detector's verdict, score, threshold and model hashes (so "which cases were analysed with this checkpoint" is a
query); the images (face crops, frame thumbnails, attention maps, SRM patches) sit as BLOBs in `artifacts`, so listing
never reads them. Deleting an analysis cascades to both child tables.

Durability choices:

- WAL journal: readers (the GUI's case list) never block the writer and the writer never blocks them; a crash at
  any moment leaves the last committed state, because uncommitted WAL frames are ignored on recovery.
- synchronous=FULL: in WAL mode NORMAL is still corruption-free, but a commit acknowledged just before a power cut
  can be lost. For evidence records "saved" must mean saved; saves are rare (one per analysis), so the one extra
  fsync per commit costs nothing a user could notice.
- Every save is one `BEGIN IMMEDIATE ... COMMIT` transaction: all rows of an analysis or none of them.
- `content_sha256` over the result JSON and every artifact is recorded at save time and checked on load, so silent
  damage to a stored record is reported instead of shown.
- `summary_checks` holds a checksum of what the case list shows (file, hash, verdicts, scores; not the editable
  case number, examiner, notes), checked on every listing: a verdict edited in the file is flagged in the list
  (`CaseSummary.altered`), not shown as if it were the analysis'. A separate table, because a column added to
  `analyses` would sit after `result_json` and make every listing walk its overflow pages.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

from core.errors import FFDError
from core.paths import data_dir
from core.results import AnalysisResult

DB_NAME = "cases.sqlite3"
BUSY_TIMEOUT_MS = 10_000


class CaseStoreError(FFDError):
    """The case store cannot be opened or a stored record is unusable (newer schema, damaged content). Exit 5."""

    exit_code = 5


class CaseStoreDamagedError(CaseStoreError):
    """The case store file itself is not a readable SQLite database (random bytes, truncated, malformed pages).

    Separate from other store errors because its remedy is: move the file aside (`move_aside`) and start a new one.
    """


class CaseNotFoundError(CaseStoreError, LookupError):
    """No stored analysis has this id."""


MOVE_ASIDE_HINT = ("move it aside and start a new case store: the app offers to, or run `ffd cases move-aside`; "
                   "the damaged file is kept, renamed, for recovery")
# SQLite's primary result codes for a file that is not (or no longer) a database: SQLITE_CORRUPT, SQLITE_NOTADB
_DAMAGED_CODES = (11, 26)


@dataclass(frozen=True)
class DetectorSummary:
    verdict: str                   # "real" | "fake" | "no-face"
    score: float | None            # video score (max over identities)
    threshold: float


@dataclass(frozen=True)
class CaseSummary:
    """One line of the case list; built from the small columns only (no result JSON, no images)."""

    id: int
    created_at: str                # when it was saved (UTC, ISO 8601)
    analysed_at: str               # when the analysis started (the analysing machine's local time)
    file_name: str
    path: str
    sha256: str
    size: int
    verdict: str                   # overall: fake if any detector says fake
    detectors: dict[str, DetectorSummary] = field(default_factory=dict)
    case_number: str | None = None
    examiner: str | None = None
    notes: str | None = None
    updated_at: str | None = None
    altered: bool = False          # the listed values no longer match their save-time checksum: do not trust them


# ------------------------------------------------------------------------------------------------ schema

# Each migration takes the database from version N-1 to N (PRAGMA user_version), inside one transaction: SQL
# statements, or callables given the CaseStore for data steps. Append new ones; never edit a shipped one.
MIGRATIONS: list[tuple[str, list]] = [
    ("initial schema", [
        """CREATE TABLE schema_migrations (
               version     INTEGER PRIMARY KEY,
               description TEXT NOT NULL,
               applied_at  TEXT NOT NULL
           )""",
        """CREATE TABLE analyses (
               id              INTEGER PRIMARY KEY AUTOINCREMENT,
               created_at      TEXT NOT NULL,
               updated_at      TEXT,
               analysed_at     TEXT NOT NULL,
               case_number     TEXT,
               examiner        TEXT,
               notes           TEXT,
               evidence_path   TEXT NOT NULL,
               evidence_name   TEXT NOT NULL,
               evidence_sha256 TEXT NOT NULL,
               evidence_size   INTEGER NOT NULL,
               media_kind      TEXT,
               settings_json   TEXT NOT NULL,
               models_json     TEXT NOT NULL,
               verdict         TEXT NOT NULL,
               duration_s      REAL,
               software_version TEXT,
               result_schema   INTEGER NOT NULL,
               result_json     TEXT NOT NULL,
               content_sha256  TEXT NOT NULL
           )""",
        "CREATE INDEX analyses_sha256 ON analyses(evidence_sha256)",
        "CREATE INDEX analyses_case_number ON analyses(case_number)",
        """CREATE TABLE detector_results (
               analysis_id     INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
               detector        TEXT NOT NULL,
               verdict         TEXT NOT NULL,
               score           REAL,
               threshold       REAL NOT NULL,
               model_name      TEXT,
               arch            TEXT,
               weights_sha256  TEXT,
               detector_sha256 TEXT,
               PRIMARY KEY (analysis_id, detector)
           ) WITHOUT ROWID""",
        "CREATE INDEX detector_results_checkpoint ON detector_results(detector_sha256)",
        """CREATE TABLE artifacts (
               analysis_id INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
               face_key    TEXT NOT NULL,
               name        TEXT NOT NULL,
               position    INTEGER NOT NULL,
               data        BLOB NOT NULL,
               PRIMARY KEY (analysis_id, face_key, name)
           )""",
    ]),
    ("summary checksums, so an edited verdict is flagged in the case list", [
        """CREATE TABLE summary_checks (
               analysis_id    INTEGER PRIMARY KEY REFERENCES analyses(id) ON DELETE CASCADE,
               summary_sha256 TEXT NOT NULL
           )""",
        lambda store: store._record_summary_checks(),    # cases saved before: checksummed as they are now
    ]),
]
SCHEMA_VERSION = len(MIGRATIONS)

# What a case list reads: never result_json (which can be megabytes), and all stored before it in the row, so SQLite
# does not even walk its overflow pages.
_SUMMARY_COLUMNS = ("id, created_at, updated_at, analysed_at, case_number, examiner, notes, evidence_path, "
                    "evidence_name, evidence_sha256, evidence_size, verdict")

_UNSET = object()


def default_path() -> Path:
    return data_dir() / DB_NAME


def move_aside(path: str | Path | None = None) -> Path:
    """Rename a damaged case store (and its -wal / -shm files) to `<name>.damaged-<UTC time>` and return the new path.

    Never deletes: the old file is evidence of past analyses and may be recoverable. The WAL travels with it, because a
    stale WAL left beside a new database would be replayed into it.
    """
    path = Path(path) if path is not None else default_path()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target, n = path.with_name(f"{path.name}.damaged-{stamp}"), 1
    while any(Path(f"{target}{suffix}").exists() for suffix in ("", "-wal", "-shm")):
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    try:
        os.rename(path, target)
        for suffix in ("-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():
                os.rename(f"{path}{suffix}", f"{target}{suffix}")
    except OSError as exc:
        raise CaseStoreError(f"cannot move the case store aside to {target.name}: {exc.strerror}",
                             path=str(path)) from exc
    return target


def _store_error(path: Path, exc: sqlite3.Error) -> CaseStoreError:
    """The CaseStoreError for an sqlite3 error, naming the file; a damaged file gets the move-aside hint."""
    if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _DAMAGED_CODES:
        return CaseStoreDamagedError(f"the case store cannot be opened: the file is damaged ({exc}); "
                                     + MOVE_ASIDE_HINT, path=str(path))
    return CaseStoreError(f"the case store cannot be used: {exc}", path=str(path))


def _sqlite_errors(method):
    """Turn sqlite3 errors escaping a public method into CaseStoreError: callers (GUI, `ffd`) catch FFDError."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from exc
    return wrapper


class CaseStore:
    """Saved analyses in one SQLite file. Use as a context manager; one store object per thread.

    >>> with CaseStore() as store:
    ...     case_id = store.save(result, case_number="2024-117", examiner="J. Doe")
    ...     again = store.load(case_id)
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaseStoreError(f"cannot create the case store's folder: {exc.strerror}", path=str(self.path)) from exc
        try:
            # isolation_level=None: no implicit transactions; every write below opens its own explicitly.
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from exc
        try:
            self._configure()
            self._migrate()
            self._db.execute("SELECT COUNT(*) FROM analyses").fetchone()   # reads the case list's pages: truncation
        except sqlite3.Error as exc:                                         # shows here, not at the first listing
            self._db.close()
            raise _store_error(self.path, exc) from exc
        except BaseException:
            self._db.close()
            raise

    # -------------------------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _configure(self) -> None:
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.create_function("ffd_contains", 2, _contains, deterministic=True)
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise CaseStoreError(f"the case store needs WAL journaling, the file system gave {mode!r}",
                                 path=str(self.path))
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise CaseStoreError(f"the case store was written by a newer FFD Desktop (schema {version}, this version "
                                 f"reads up to {SCHEMA_VERSION}); update the app to open it", path=str(self.path))
        for target in range(version + 1, SCHEMA_VERSION + 1):
            description, statements = MIGRATIONS[target - 1]
            with self._transaction():
                if self.schema_version >= target:   # another process migrated while we waited for the lock
                    continue
                for statement in statements:
                    if callable(statement):     # a data step in Python (e.g. computing checksums)
                        statement(self)
                    else:
                        self._db.execute(statement)
                self._db.execute("INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                                 (target, description, _now()))
                self._db.execute(f"PRAGMA user_version = {target}")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @property
    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE (take the write lock up front, waiting up to the busy timeout) ... COMMIT, or ROLLBACK."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -------------------------------------------------------------------------------------------- writing

    @_sqlite_errors
    def save(self, result: AnalysisResult, case_number: str | None = None, examiner: str | None = None,
             notes: str | None = None) -> int:
        """Store the analysis with its images in one transaction (all or nothing) and return its id."""
        # replace(): serialise without walking (and deep-copying) the images, which go to their own table
        result_json = dataclasses.replace(result, artifacts={}).to_json(include_artifacts=False)
        content = hashlib.sha256(result_json.encode("utf-8"))
        file = result.file
        media = file.get("media") or {}
        models = {name: _model_hashes(det.model) for name, det in result.detectors.items()}
        with self._transaction() as db:
            cursor = db.execute(
                """INSERT INTO analyses (created_at, analysed_at, case_number, examiner, notes, evidence_path,
                       evidence_name, evidence_sha256, evidence_size, media_kind, settings_json, models_json, verdict,
                       duration_s, software_version, result_schema, result_json, content_sha256)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')""",
                (_now(), result.started_at, case_number, examiner, notes, str(file.get("path", "")),
                 _file_name(str(file.get("path", ""))), str(file.get("sha256", "")), int(file.get("size") or 0),
                 media.get("kind"), json.dumps(result.settings, sort_keys=True), json.dumps(models, sort_keys=True),
                 result.verdict, result.duration_s, (result.software or {}).get("version"), result.schema,
                 result_json))
            analysis_id = int(cursor.lastrowid)
            db.executemany(
                """INSERT INTO detector_results (analysis_id, detector, verdict, score, threshold, model_name, arch,
                       weights_sha256, detector_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [(analysis_id, name, det.verdict, det.video_score, det.threshold, det.model.get("name"),
                  det.model.get("arch"), det.model.get("weights_sha256"), det.model.get("detector_sha256"))
                 for name, det in result.detectors.items()])
            db.executemany("INSERT INTO artifacts (analysis_id, face_key, name, position, data) VALUES (?, ?, ?, ?, ?)",
                           _artifact_rows(analysis_id, result.artifacts, content.update))
            db.execute("UPDATE analyses SET content_sha256 = ? WHERE id = ?", (content.hexdigest(), analysis_id))
            self._record_summary_checks(analysis_id)
        return analysis_id

    def _record_summary_checks(self, analysis_id: int | None = None) -> None:
        """Checksum the listed values of one case (or of all), read back as a listing reads them. In a transaction."""
        where, params = ("WHERE id = ?", [analysis_id]) if analysis_id is not None else ("", [])
        for summary in self._select_summaries(f"SELECT {_SUMMARY_COLUMNS} FROM analyses {where}", params,
                                              check=False):
            self._db.execute("INSERT OR REPLACE INTO summary_checks (analysis_id, summary_sha256) VALUES (?, ?)",
                             (summary.id, _summary_sha256(summary)))

    @_sqlite_errors
    def update_metadata(self, analysis_id: int, *, case_number=_UNSET, examiner=_UNSET, notes=_UNSET) -> None:
        """Change the case number, examiner or notes; fields left out stay as they are, None clears one."""
        changes = {name: value for name, value in
                   (("case_number", case_number), ("examiner", examiner), ("notes", notes)) if value is not _UNSET}
        for name, value in changes.items():
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")
        with self._transaction() as db:
            self._require(analysis_id)
            if changes:
                assignments = ", ".join(f"{name} = ?" for name in changes)
                db.execute(f"UPDATE analyses SET {assignments}, updated_at = ? WHERE id = ?",
                           (*changes.values(), _now(), analysis_id))

    @_sqlite_errors
    def delete(self, analysis_id: int) -> None:
        """Remove an analysis, its detector rows and its images (foreign-key cascade)."""
        with self._transaction() as db:
            self._require(analysis_id)
            db.execute("DELETE FROM analyses WHERE id = ?", (analysis_id,))

    # -------------------------------------------------------------------------------------------- reading

    @_sqlite_errors
    def list(self, limit: int = 100, search: str | None = None, offset: int = 0) -> builtins.list[CaseSummary]:
        """Newest first. `search` matches, as a plain substring ignoring case (Unicode-aware, unlike SQLite's LIKE),
        the file name or path, the SHA-256, the case number, the examiner or the notes."""
        sql = f"SELECT {_SUMMARY_COLUMNS} FROM analyses"
        params: builtins.list = []
        if search and search.strip():
            columns = ("evidence_name", "evidence_path", "evidence_sha256", "case_number", "examiner", "notes")
            sql += " WHERE " + " OR ".join(f"ffd_contains({c}, ?)" for c in columns)
            params += [search.strip().casefold()] * len(columns)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        params += [int(limit), int(offset)]
        return self._select_summaries(sql, params)

    @_sqlite_errors
    def find_by_sha256(self, sha256: str) -> builtins.list[CaseSummary]:
        """Every stored analysis of the file with this SHA-256 (full hash, any case), newest first."""
        return self._select_summaries(f"SELECT {_SUMMARY_COLUMNS} FROM analyses WHERE evidence_sha256 = ? ORDER BY id DESC",
                                      [sha256.strip().lower()])

    @_sqlite_errors
    def summary(self, analysis_id: int) -> CaseSummary:
        found = self._select_summaries(f"SELECT {_SUMMARY_COLUMNS} FROM analyses WHERE id = ?", [analysis_id])
        if not found:
            raise CaseNotFoundError(f"no stored analysis with id {analysis_id}", path=str(self.path))
        return found[0]

    @_sqlite_errors
    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM analyses").fetchone()[0])

    @_sqlite_errors
    def load(self, analysis_id: int) -> AnalysisResult:
        """The stored analysis exactly as saved: same numbers, same image bytes. Damaged records raise."""
        # One read transaction, so a concurrent delete cannot leave us with the JSON but half the images.
        self._db.execute("BEGIN")
        try:
            row = self._db.execute("SELECT result_json, content_sha256 FROM analyses WHERE id = ?",
                                   (analysis_id,)).fetchone()
            if row is None:
                raise CaseNotFoundError(f"no stored analysis with id {analysis_id}", path=str(self.path))
            artifacts = self._db.execute(
                "SELECT face_key, name, data FROM artifacts WHERE analysis_id = ? ORDER BY position",
                (analysis_id,)).fetchall()
        finally:
            self._db.execute("COMMIT")
        result_json, expected = row
        content = hashlib.sha256(result_json.encode("utf-8"))
        for key, name, data in artifacts:
            _hash_artifact(content.update, key, name, data)
        if content.hexdigest() != expected:
            raise CaseStoreError(f"stored analysis {analysis_id} is damaged: its content no longer matches the "
                                 "checksum recorded when it was saved", path=str(self.path))
        try:
            result = AnalysisResult.from_json(result_json)
        except (ValueError, KeyError, TypeError) as exc:   # e.g. a result schema this version cannot read
            raise CaseStoreError(f"stored analysis {analysis_id} cannot be read: {exc}", path=str(self.path)) from exc
        for key, name, data in artifacts:
            result.artifacts.setdefault(key, {})[name] = bytes(data)
        return result

    @_sqlite_errors
    def integrity_check(self) -> str:
        """SQLite's own consistency check of the whole file: "ok" when healthy."""
        rows = self._db.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    # -------------------------------------------------------------------------------------------- helpers

    def _require(self, analysis_id: int) -> None:
        if self._db.execute("SELECT 1 FROM analyses WHERE id = ?", (analysis_id,)).fetchone() is None:
            raise CaseNotFoundError(f"no stored analysis with id {analysis_id}", path=str(self.path))

    def _select_summaries(self, sql: str, params: Iterable, check: bool = True) -> builtins.list[CaseSummary]:
        db = self._db
        cursor = db.execute(sql, builtins.list(params))
        columns = [d[0] for d in cursor.description]
        rows = [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        detectors: dict[int, dict[str, DetectorSummary]] = {i: {} for i in ids}
        marks = ",".join("?" * len(ids))
        for analysis_id, name, verdict, score, threshold in db.execute(
                f"SELECT analysis_id, detector, verdict, score, threshold FROM detector_results "
                f"WHERE analysis_id IN ({marks}) ORDER BY analysis_id, detector", ids):
            detectors[analysis_id][name] = DetectorSummary(verdict, score, threshold)
        summaries = [CaseSummary(id=r["id"], created_at=r["created_at"], analysed_at=r["analysed_at"],
                                 file_name=r["evidence_name"], path=r["evidence_path"], sha256=r["evidence_sha256"],
                                 size=r["evidence_size"], verdict=r["verdict"], detectors=detectors[r["id"]],
                                 case_number=r["case_number"], examiner=r["examiner"], notes=r["notes"],
                                 updated_at=r["updated_at"])
                     for r in rows]
        if not check:
            return summaries
        recorded = dict(db.execute(f"SELECT analysis_id, summary_sha256 FROM summary_checks "
                                   f"WHERE analysis_id IN ({marks})", ids).fetchall())
        # A missing checksum is an alteration too: every case gets one when saved (or when the store was migrated).
        return [dataclasses.replace(c, altered=True) if recorded.get(c.id) != _summary_sha256(c) else c
                for c in summaries]


def _artifact_rows(analysis_id: int, artifacts, digest: Callable[[bytes], None]) -> Iterator[tuple]:
    """Rows for the artifacts table; `position` keeps the result's own order, so a reloaded result is identical."""
    position = 0
    for key, items in artifacts.items():
        for name, blob in items.items():
            data = bytes(blob)
            _hash_artifact(digest, key, name, data)
            yield analysis_id, key, name, position, data
            position += 1


def _hash_artifact(digest: Callable[[bytes], None], key: str, name: str, data: bytes) -> None:
    digest(f"\0{key}\0{name}\0{len(data)}\0".encode())
    digest(data)


def _summary_sha256(c: CaseSummary) -> str:
    """What the case list shows of a case, hashed (the editable case number, examiner and notes left out)."""
    listed = [c.id, c.created_at, c.analysed_at, c.file_name, c.path, c.sha256, c.size, c.verdict,
              sorted([name, d.verdict, d.score, d.threshold] for name, d in c.detectors.items())]
    return hashlib.sha256(json.dumps(listed).encode("utf-8")).hexdigest()


def _model_hashes(model: dict) -> dict:
    return {k: model.get(k) for k in ("name", "arch", "weights_sha256", "detector_sha256")}


def _file_name(path: str) -> str:
    name = Path(path).name
    return PureWindowsPath(name).name if "\\" in name else name


def _contains(text: str | None, needle: str) -> bool:
    return text is not None and needle in text.casefold()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
