"""Lifecycle of MediaPipe "solution" graphs shared by the face detector and the face mesher.

MediaPipe graphs are native objects that are not thread-safe and hold native threads and memory, so each
wrapper: creates its graphs lazily (``import core.faces`` stays cheap and no graph exists until used),
binds itself to the first thread that uses it (a second thread gets a clear error instead of a crash or
silently mixed results), and closes exactly once (``close()`` is idempotent, a context manager and safe to
reach from ``__del__`` during interpreter shutdown).

MediaPipe's native code (absl / TFLite logging, which no environment variable of this release silences) prints
three or four warning lines into the user's terminal for every graph it starts. Each graph's creation and first run
therefore happen inside ONE diversion of file descriptor 2 (``_quiet_native_stderr``); anything else written in that
window is passed on. One window, not two: calculators open on the graph's own threads after ``start_run`` returns,
so a gap between a diverted creation and a diverted first run let a warning through on a loaded machine. The first
run ends with the graph idle (``process`` waits for it); the diversion still stays until fd 2 has been quiet for a
moment, in case a native thread is mid-write.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
import time
from typing import Any

import cv2
import numpy as np


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Validate a frame and return it as a C-contiguous HxWx3 uint8 RGB array.

    Grey (HxW) and RGBA (HxWx4) are accepted and converted, because callers feed decoded stills too.
    Anything else is a programming error (the media layer guarantees RGB uint8), hence ValueError.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected a numpy image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2RGB)
    elif image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    return np.ascontiguousarray(image)


def downscale(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longer side is at most ``max_side``; results come back in relative coordinates, so
    callers scale them by the ORIGINAL frame size and need no mapping back.

    MediaPipe itself resamples every input bilinearly to its 128/192 px model input, so this is for speed
    (huge frames), not accuracy. Filter choice is about cost: INTER_AREA for strong reductions (< 0.5x,
    e.g. 4K), where bilinear would skip most pixels; INTER_LINEAR for mild ones, where INTER_AREA's
    fractional path costs 9.5 ms instead of 2.3 ms at 1080p -> 720p and buys nothing before the
    network's own bilinear resize.
    """
    h, w = image.shape[:2]
    longest = max(h, w)
    if max_side <= 0 or longest <= max_side:
        return image
    s = max_side / longest
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if s < 0.5 else cv2.INTER_LINEAR)


_NATIVE_NOISE = re.compile(rb"^(?:[WI]\d{4} .*|INFO: Created TensorFlow Lite .*|"
                           rb"WARNING: All log messages before absl::InitializeLog\(\) .*)$")
_STDERR_LOCK = threading.Lock()  # one diversion at a time, or a second would save and restore the first's file


def _wait_until_quiet(sink, quiet: float, limit: float) -> None:
    """Return once ``sink`` has not grown for ``quiet`` seconds, or after ``limit`` seconds in all."""
    size, since, end = os.fstat(sink.fileno()).st_size, time.monotonic(), time.monotonic() + limit
    while time.monotonic() < end and time.monotonic() - since < quiet:
        time.sleep(0.01)
        now = os.fstat(sink.fileno()).st_size
        if now != size:
            size, since = now, time.monotonic()


@contextlib.contextmanager
def _quiet_native_stderr(settle: float = 0.0):
    """Divert fd 2 while MediaPipe starts a graph; re-emit whatever is not its known start-up noise.

    ``settle`` > 0 keeps the diversion until fd 2 has been quiet that long (at most 20 times that), for native
    threads that log after the call being diverted has returned."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        if sys.stderr is not None:
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:                 # no stderr at all (a windowed app on Windows): nothing to keep quiet
            yield
            return
        os.dup2(sink.fileno(), 2)
        try:
            yield
            if settle > 0:
                _wait_until_quiet(sink, settle, 20 * settle)
        finally:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().splitlines(keepends=True) if not _NATIVE_NOISE.match(line.rstrip())]
            if kept:
                os.write(2, b"".join(kept))


class MediaPipeSolution:
    """Base for wrappers owning one or more MediaPipe solution graphs (see module docstring)."""

    def __init__(self) -> None:
        self._graphs: dict[Any, Any] = {}
        self._warm: set[Any] = set()  # graphs that have run once (their start-up noise is behind them)
        self._owner: int | None = None
        self._closed = False
        self._lock = threading.Lock()

    # -- subclasses implement -------------------------------------------------------------------------
    def _create_graph(self, key: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared machinery -----------------------------------------------------------------------------
    def _graph(self, key: Any) -> Any:
        """Return the graph for ``key``, creating it on first use, from the owning thread only."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{type(self).__name__} is closed")
            me = threading.get_ident()
            if self._owner is None:
                self._owner = me
            elif self._owner != me:
                raise RuntimeError(
                    f"{type(self).__name__} is not thread-safe: it was first used by another thread; "
                    "create one instance per thread"
                )
            graph = self._graphs.get(key)
            if graph is None:
                graph = self._graphs[key] = self._create_graph(key)
            return graph

    def _process(self, key: Any, image: np.ndarray) -> Any:
        """``graph.process(image)``; creation and first run of each graph with its native log lines kept off the
        terminal, in one diversion (see module docstring)."""
        if key in self._warm:
            return self._graph(key).process(image)
        with _quiet_native_stderr(settle=0.1):
            result = self._graph(key).process(image)
        self._warm.add(key)
        return result

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release the native graphs. Safe to call more than once and from ``__del__``."""
        lock = getattr(self, "_lock", None)
        if lock is None:  # __init__ never ran to completion
            return
        with lock:
            if self._closed:
                return
            self._closed = True
            graphs, self._graphs = self._graphs, {}
        for graph in graphs.values():
            # Plain try/except rather than contextlib.suppress: this also runs from __del__ at interpreter
            # shutdown, when module globals may already be gone. Closing must never raise.
            try:  # noqa: SIM105
                graph.close()
            except Exception:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:  # noqa: SIM105 - see close()
            self.close()
        except Exception:
            pass
