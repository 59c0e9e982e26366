"""Everything slow runs here, off the GUI thread, and reports back only through Qt signals.

- AnalysisWorker lives in its own QThread: loads the model once (and keeps it), runs core.engine.analyze one file
  at a time, saves the completed result to the case store (its own connection: one SQLite connection per thread),
  and signals progress / finished / failed / cancelled. Cancellation is a threading.Event per job, set directly
  from the GUI thread, because the worker's event loop is busy inside analyze() while a job runs.
- FrameLoader lives in its own QThread: checks that the evidence file is still the analysed one (SHA-256), then
  streams the sampled frames with core.media and hands them over as JPEG bytes (bounded memory, instant scrubbing).
- TrainWorker lives in its own QThread (started on the first training): runs core.training's Trainer on a data
  folder into a run folder and relays its progress; Cancel (a threading.Event set from the GUI thread) makes the
  trainer stop at the next step, after it has saved the last completed epoch.
- run_task() runs one-off jobs (PDF export, weights import, folder scans) on a small pool of Python threads.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from core.errors import CancelledError, FFDError

log = logging.getLogger("ffd_desktop")

FRAME_SIDE = 1280                 # longest side of the frames kept for the viewer (JPEG in memory)
FRAME_BUDGET_BYTES = 256 << 20    # beyond this (hours of video), later frames show their stored thumbnails


def lower_thread_priority(niceness: int = 5) -> None:
    """Make the calling thread (and the threads it starts later, e.g. torch's OpenMP pool) yield the CPU to the
    GUI thread. Why: on a 2-core machine busy with an analysis, the event loop must still get the CPU the moment
    it has work, or the window stutters. Mild (5, not 19): the work must still get its share next to other busy
    programs. Linux honours per-thread niceness; elsewhere QThread.LowPriority (set by the controllers) does it."""
    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(kind, one-line message) for the window; engine errors carry their own wording, bugs get a short line."""
    if isinstance(exc, FFDError):
        return type(exc).__name__, str(exc)
    from ffd_desktop import logfile

    path = logfile.install()          # already installed by the app; here too so the message below is always true
    log.error("internal error\n%s", "".join(traceback.format_exception(exc)))
    where = f"details were written to {path}" if path else "details could not be logged (the data dir is read-only)"
    return "InternalError", f"internal error ({type(exc).__name__}: {exc}); {where}"


class AnalysisWorker(QObject):
    progress = Signal(str, str, int, int, float)     # path, stage, done, total, eta seconds (-1: unknown)
    finished = Signal(str, object, int, str)         # path, AnalysisResult, case id (-1: not saved), save problem
    failed = Signal(str, str, str)                   # path, error kind, message
    cancelled = Signal(str)                          # path
    modelReady = Signal(str)                         # description of the loaded model

    def __init__(self, case_store_path: str | os.PathLike | None):
        super().__init__()
        self._case_store_path = case_store_path
        self._model = None
        self._model_key: tuple | None = None

    @Slot()
    def started(self) -> None:
        lower_thread_priority()

    @Slot(object)
    def preload(self, job: dict) -> None:
        """Load the model ahead of the first file (startup), so the first analysis starts at once."""
        try:
            self._ensure_model(job, "")
        except Exception as exc:   # reported when a file is actually analysed
            log.info("model preload failed: %s", exc)

    @Slot(str, object)
    def analyse(self, path: str, job: dict) -> None:
        cancel: threading.Event = job["cancel"]
        try:
            if cancel.is_set():
                raise CancelledError("analysis cancelled")
            model, settings = self._ensure_model(job, path)
            if cancel.is_set():
                raise CancelledError("analysis cancelled")
            from core.engine import analyze

            result = analyze(path, settings, model, progress=lambda p: self._report(path, p),
                             cancel=cancel.is_set)
        except CancelledError:
            self.cancelled.emit(path)
            return
        except Exception as exc:
            self.failed.emit(path, *describe_error(exc))
            return
        if cancel.is_set():                        # cancelled after the last check: keep the promise, save nothing
            self.cancelled.emit(path)
            return
        case_id, problem = self._save(result)
        self.finished.emit(path, result, case_id, problem)

    def _report(self, path: str, p) -> None:
        self.progress.emit(path, p.stage, int(p.done), int(p.total), -1.0 if p.eta_s is None else float(p.eta_s))

    def _ensure_model(self, job: dict, path: str):
        """The loaded model for this job, loading (or topping up detectors) only when something changed."""
        from core.engine import AnalysisSettings, select_device
        from core.media import Sampling
        from core.models import load_model, read_bundle

        detectors = list(job["detectors"])
        if not detectors:
            raise FFDError("no detector is selected; choose at least one in Settings")
        device = select_device(job.get("device", "auto"))
        key = (str(job["model_dir"]), str(device))
        if self._model is None or self._model_key != key or not set(detectors) <= set(self._model.detectors):
            self.progress.emit(path, "loading model", 0, 0, -1.0)
            bundle = read_bundle(job["model_dir"])
            backbone = self._model.backbone if self._model is not None and self._model_key == key else None
            wanted = sorted(set(detectors) | (set(self._model.detectors) if backbone is not None else set()))
            self._model = load_model(bundle, wanted, device=device, backbone=backbone)
            self._model_key = key
            self.modelReady.emit(f"{bundle.name} on {device}")
        # Small batches on the CPU keep Cancel prompt (one batch is the longest uninterruptible step).
        batch = 16 if device.type != "cpu" else 4
        settings = AnalysisSettings(detectors=detectors, sampling=Sampling("fps", float(job["fps"])),
                                    batch_size=batch)
        return self._model, settings

    def _save(self, result) -> tuple[int, str]:
        from core.cases import CaseStore

        try:
            with CaseStore(self._case_store_path) as store:
                return store.save(result), ""
        except Exception as exc:
            return -1, describe_error(exc)[1]


class FrameLoader(QObject):
    """Streams the sampled frames of one evidence file; a newer request makes the current stream stop."""

    state = Signal(int, str, str)              # generation, "ok" | "missing" | "changed" | "error", message
    frameReady = Signal(int, int, object)      # generation, frame index, JPEG bytes
    done = Signal(int)                         # generation

    def __init__(self):
        super().__init__()
        self.generation = 0    # bumped from the GUI thread: a plain int write, read here between frames

    @Slot()
    def started(self) -> None:
        lower_thread_priority()

    @Slot(int, str, str, object, object)
    def load(self, generation: int, path: str, sha256: str, sampling: dict, wanted: list) -> None:
        from core.digest import sha256_file
        from core.media import Sampling, iter_frames, probe
        from ffd_desktop.imaging import downscale, encode_jpeg

        if generation != self.generation:
            return
        try:
            if not path or not Path(path).is_file():
                self.state.emit(generation, "missing", f"The evidence file is not at {path} any more: "
                                                       "showing the frame thumbnails stored with the case.")
                return
            if sha256 and sha256_file(path) != sha256:
                self.state.emit(generation, "changed", f"The file at {path} is no longer the analysed evidence "
                                                       "(its SHA-256 differs): showing the stored thumbnails.")
                return
            self.state.emit(generation, "ok", "")
            todo, spent = set(wanted), 0
            info = probe(path, with_hash=False)
            for frame in iter_frames(path, Sampling(**sampling), info=info):
                if generation != self.generation or not todo:
                    return
                if frame.index in todo:
                    todo.discard(frame.index)
                    data = encode_jpeg(downscale(frame.image, FRAME_SIDE))
                    spent += len(data)
                    self.frameReady.emit(generation, frame.index, data)
                    if spent > FRAME_BUDGET_BYTES:
                        self.state.emit(generation, "partial", f"Long video: frames after {frame.time_s:.0f} s are "
                                                               "shown from the stored thumbnails.")
                        return
        except Exception as exc:
            self.state.emit(generation, "error", f"The evidence could not be decoded for display "
                                                 f"({describe_error(exc)[1]}): showing the stored thumbnails.")
        finally:
            if generation == self.generation:
                self.done.emit(generation)


class TrainWorker(QObject):
    ready = Signal(str)                   # device the training runs on
    progress = Signal(object)             # TrainProgress fields as a dict
    finished = Signal(str, object)        # run folder, summary dict (test metrics, best val AUC, epochs run, ...)
    failed = Signal(str, str, str)        # run folder, error kind, message
    cancelled = Signal(str)               # run folder

    @Slot()
    def started(self) -> None:
        lower_thread_priority()

    @Slot(object)
    def train(self, job: dict) -> None:
        """job: data, run_dir, config (TrainConfig fields), resume, cancel (threading.Event)."""
        cancel: threading.Event = job["cancel"]
        run_dir = str(job["run_dir"])
        try:
            from core.training.trainer import TrainConfig, Trainer

            trainer = Trainer(job["data"], run_dir, TrainConfig(**job["config"]), progress=self._report,
                              cancel=cancel.is_set)
            self.ready.emit(str(trainer.device))
            summary = trainer.run(resume=bool(job["resume"]))
        except CancelledError:
            self.cancelled.emit(run_dir)
            return
        except Exception as exc:
            self.failed.emit(run_dir, *describe_error(exc))
            return
        self.finished.emit(run_dir, summary)

    def _report(self, p) -> None:
        self.progress.emit({"stage": p.stage, "epoch": p.epoch, "epochs": p.epochs, "step": p.step,
                            "steps": p.steps, "loss": p.loss, "val_auc": p.val_auc, "eta_s": p.eta_s,
                            "message": p.message})


class _TaskReplies(QObject):
    """Made on the GUI thread and kept for the app's lifetime: a worker thread emits ``reply(token, ok, value)``
    and the callbacks filed under ``token`` run on the GUI thread (a queued connection: this object lives there).

    Why not a QRunnable with its own signals object: the runnable and its signals are then freed by whichever
    thread drops the last Python reference, at times while the pool thread is still returning from ``run()`` (a
    use-after-free that can crash the window). Here the worker thread holds no Qt object and no callback: only
    the job and a token."""

    reply = Signal(int, bool, object)

    def __init__(self):
        super().__init__()
        self.callbacks: dict[int, tuple[Callable[[object], None], Callable[[str], None]]] = {}
        self.reply.connect(self._deliver)

    @Slot(int, bool, object)
    def _deliver(self, token: int, ok: bool, value) -> None:
        on_done, on_error = self.callbacks.pop(token)
        (on_done if ok else on_error)(value)


_tasks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ffd-task")
_pending: set[Future] = set()
_replies: _TaskReplies | None = None
_tokens = itertools.count()


def run_task(fn: Callable[[], object], on_done: Callable[[object], None],
             on_error: Callable[[str], None]) -> Future:
    """Run fn() on a worker thread; on_done(value) / on_error(message) are called on the GUI thread.
    Call it from the GUI thread."""
    global _replies
    if _replies is None:
        _replies = _TaskReplies()
    token = next(_tokens)
    _replies.callbacks[token] = (on_done, on_error)
    future = _tasks.submit(_run_job, fn, token, _replies.reply)
    _pending.add(future)
    future.add_done_callback(_pending.discard)
    return future


def _run_job(fn: Callable[[], object], token: int, reply) -> None:
    try:
        value = fn()
    except Exception as exc:
        reply.emit(token, False, describe_error(exc)[1])
    else:
        reply.emit(token, True, value)


def wait_for_tasks(timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for every task run_task started; True when none is left running."""
    return not wait(list(_pending), timeout=timeout_s).not_done
