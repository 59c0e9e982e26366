"""`ffd batch --ray`: the same durable batch, analysed by a Ray cluster instead of one process.

Why Ray and not a home-made scheduler: its actors keep a loaded model per GPU or CPU slot for their whole life, which
is how inference at scale is usually run, and it already handles placement, transfer and process death.

`RayExecutor` is a core.batch executor: run_batch keeps the durability (one fsynced line per file, written by this
driver as each result arrives), the resume and the progress bar; this module only decides where files run.
- One long-lived actor per worker slot (one GPU each where the cluster has GPUs, else one CPU each) loads the model
  once; at most `per_actor` files are queued on an actor (one running, one ready), so files in flight are bounded.
- Evidence: workers open the path the driver listed (storage mounted at the same path on every node), or, with
  ship_bytes, get the bytes from the driver. Either way the SHA-256 in a result is computed on the worker, where the
  bytes were read, and must equal the driver's own hash of the file: a mismatch is that file's error line.
- Faults: a dead actor's queued files go back to the queue and a replacement actor is started; the file it was
  running when it died is retried once, and a file that killed two workers gets an error line. A file with no result
  after `file_timeout` seconds gets an error line and its actor is replaced. A lost cluster raises ClusterError
  (exit 7) with every finished line kept. Every ray.wait/ray.get has a timeout: never a hang.
- Security: Ray has no authentication before 2.52 and it is optional after ("ShadowRay": whoever reaches the head's
  ports runs code there). `local` binds every Ray process to 127.0.0.1 with no dashboard; paths and results travel
  only as actor calls between this driver and its actors, never through the dashboard or the job-submission API.

Ray is imported only here, and only when `--ray` is used: the desktop install never needs it.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.batch import AnalyseFn, Outcome, sha256_or_none
from core.errors import BadInputError, CancelledError, FFDError, ModelError

log = logging.getLogger(__name__)

EXIT_CLUSTER = 7
INSTALL_HINT = "pip install 'ffd-desktop[cluster]' (in a source checkout: pip install -e '.[cluster]')"


class ClusterError(FFDError):
    """The Ray cluster cannot be reached, or was lost mid-batch (finished lines are kept: re-run to resume)."""

    exit_code = EXIT_CLUSTER


class ClusterUsageError(FFDError):
    """A usage problem (exit 2): `--ray` without Ray installed, cluster options without `--ray`, more actors than
    the cluster has slots."""

    exit_code = 2


class EvidenceMismatchError(BadInputError):
    """The bytes a worker analysed are not the bytes the driver hashed (another file at that path on that node, or
    the file changed while it was analysed)."""


class WorkerCrashError(FFDError):
    """A file killed the worker analysing it twice (out of memory, a crash in native code), or never finished."""


def import_ray(address: str):
    """Ray, or a clear way to get it; set up before the import, since Ray reads these variables then.

    A cluster on this machine (`local`, or a 127.0.0.1 address) binds every Ray process to 127.0.0.1: set to 0,
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER makes Ray use the loopback address for the node (as it always does on Windows
    and macOS) instead of the machine's network address. A driver that has the cluster's token (~/.ray/auth_token,
    RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH) sends it: Ray 2.60 does so by itself for `auto` only.
    """
    if address == "local" or address.rsplit(":", 1)[0] in ("127.0.0.1", "localhost"):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    has_token = (Path.home() / ".ray" / "auth_token").is_file() or os.environ.get("RAY_AUTH_TOKEN") \
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
    if has_token and address != "local":
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
    except ImportError:
        raise ClusterUsageError(f"--ray needs Ray, an optional extra: {INSTALL_HINT}") from None
    return ray


class _Analyser:
    """A Ray actor: one per worker slot. Loads the model once, then analyses file after file."""

    def __init__(self, model_dir: str, settings, device: str):
        self.model_dir, self.settings, self.device, self.model = model_dir, settings, device, None

    def load(self) -> dict:
        """Load the model; the result key tells the driver whether this node has the same model and settings."""
        from core.batch import result_key
        from core.cli import _result_identity
        from core.engine import select_device
        from core.models import load_model, read_bundle

        bundle = read_bundle(self.model_dir)
        self.model = load_model(bundle, self.settings.detectors, device=select_device(self.device))
        return {"key": result_key(_result_identity(self.settings, bundle)), "node": socket.gethostname(),
                "pid": os.getpid()}

    def analyse(self, path: str, data: bytes | None = None) -> dict:
        from core.engine import analyze

        if data is None:                    # shared storage: this node opens the same path
            return analyze(path, self.settings, self.model).to_dict()
        with tempfile.TemporaryDirectory(prefix="ffd-shipped-") as tmp:
            local = Path(tmp) / Path(path).name        # same name and suffix: media type and messages match
            local.write_bytes(data)
            try:
                result = analyze(str(local), self.settings, self.model).to_dict()
            except FFDError as exc:
                raise type(exc)(str(exc).replace(str(local), path)) from None
        return _replace_text(result, str(local), path)


def _replace_text(value, old: str, new: str):
    """The result of a shipped file names the evidence path, not the worker's temporary copy."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace_text(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_text(v, old, new) for v in value]
    return value


class _HeadProbe:
    """Notices a lost cluster. Ray itself ends a driver whose cluster is gone abruptly (exit 1, after about a
    minute), so the batch checks that the head node's GCS port still accepts a connection whenever it waits for
    results, and stops cleanly (ClusterError) once it has not for `lost_after` seconds."""

    def __init__(self, gcs_address: str, lost_after: float):
        host, port = gcs_address.rsplit(":", 1)
        self.address, self.lost_after = (host.strip("[]"), int(port)), lost_after
        self.failing_since: float | None = None
        self.checked = 0.0
        self.lost = False

    def check(self) -> None:
        now = time.monotonic()
        if now - self.checked < 2.0:
            return
        self.checked = now
        try:
            socket.create_connection(self.address, timeout=2.0).close()
            self.failing_since = None
        except OSError as exc:
            self.failing_since = self.failing_since or now
            if now - self.failing_since >= self.lost_after:
                self.lost = True
                raise ClusterError(f"lost the Ray cluster: its head node at {self.address[0]}:{self.address[1]} "
                                   f"has not answered for {self.lost_after:.0f} s ({exc})") from None


@dataclass(eq=False)
class _Task:
    path: str
    sha256: str | None          # the driver's own hash of the file
    ref: object = None
    started: float | None = None  # when it became the file its actor is running


@dataclass(eq=False)
class _Slot:
    handle: object
    ready: object               # the load() call's reference until the model is loaded, then None
    since: float = field(default_factory=time.monotonic)
    queue: deque = field(default_factory=deque)   # in submission order: Ray runs an actor's calls in that order


@dataclass
class RayExecutor:
    """Runs a batch's files on Ray actors; yields (path, result or exception) as they finish, like core.batch's."""

    address: str                # "auto", "local" or HOST:PORT
    model_dir: str
    settings: object            # core.engine.AnalysisSettings
    key: str                    # the driver's result key: every worker must produce the same
    device: str = "auto"
    actors: int | None = None   # default: one per GPU, or one per CPU when the cluster has no GPU
    ship_bytes: bool = False
    per_actor: int = 2          # files queued on one actor: the one it runs and the next, ready to start at once
    file_timeout: float = 1800.0  # seconds a file may run before it gets an error line and its actor is replaced
    start_timeout: float = 600.0  # seconds an actor may take to load the model (or to be placed at all)
    poll_s: float = 1.0         # the longest single wait for a result; timeouts are checked between waits
    max_kills: int = 2          # a file that was running when this many actors died gets an error line
    lost_after: float = 10.0    # seconds the head node has not answered: the cluster is lost
    started_actors: int = 0     # how many actors this batch started (replacements included)
    nodes: set = field(default_factory=set)       # hosts whose actors loaded the model
    slots: list = field(default_factory=list)     # the actors now in use, each with its queued files

    def __call__(self, analyse: AnalyseFn, paths: list[str]) -> Iterator[Outcome]:
        if not paths:
            return
        ray = import_ray(self.address)
        owned = not ray.is_initialized()
        if owned:
            self._connect(ray)
        slots = self.slots = []
        self._head = _HeadProbe(ray.get_runtime_context().gcs_address, self.lost_after)
        try:
            yield from self._run(ray, paths, slots)
        finally:
            if not self._head.lost:     # a lost cluster has nothing left to stop, and would not answer
                for slot in slots:
                    self._kill(ray, slot)
                if owned:
                    ray.shutdown()

    def _connect(self, ray) -> None:
        try:
            if self.address == "local":
                ray.init(address="local", include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
                bound = {node["NodeManagerAddress"] for node in ray.nodes()}
                if bound != {"127.0.0.1"}:      # Ray was imported before import_ray could set it up
                    ray.shutdown()
                    raise ClusterError(f"--ray local must bind to 127.0.0.1, Ray used {', '.join(bound)}")
            else:
                ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            why = "no running Ray cluster found on this machine (start one with `ray start --head`, or use --ray " \
                "local)" if self.address == "auto" and "Could not find any running Ray" in str(exc) else str(exc)
            raise ClusterError(f"cannot reach the Ray cluster at {self.address!r}: {why}") from None

    def _actor_options(self, ray) -> tuple[int, dict]:
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
        slots, unit = (gpus, "GPU") if gpus else (cpus, "CPU")
        wanted = self.actors or slots
        if wanted > slots or not slots:
            raise ClusterUsageError(f"--ray-actors {wanted}: the cluster at {self.address!r} has {slots} {unit} "
                                    "slot(s) (one actor each)")
        options = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
        return wanted, {**options, "max_restarts": 0, "max_task_retries": 0, "scheduling_strategy": "SPREAD"}

    def _run(self, ray, paths: list[str], slots: list[_Slot]) -> Iterator[Outcome]:
        from ray.exceptions import RayError, RayTaskError

        count, options = self._actor_options(ray)
        actor_class = ray.remote(_Analyser).options(**options)

        def start() -> None:
            handle = actor_class.remote(self.model_dir, self.settings, self.device)
            slots.append(_Slot(handle, handle.load.remote()))
            self.started_actors += 1

        for _ in range(count):
            start()
        spares = 2 * count          # replacement actors this batch may start
        todo = deque(_Task(p, None) for p in paths)
        kills: Counter[str] = Counter()

        def lost(slot: _Slot, reason: str | None = None) -> Iterator[Outcome]:
            """An actor died or was stopped: its running file counts a kill, the others go back to the queue."""
            nonlocal spares
            self._kill(ray, slot)
            slots.remove(slot)
            if slot.queue:
                running = slot.queue.popleft()
                kills[running.path] += 1
                if reason or kills[running.path] >= self.max_kills:
                    yield running.path, WorkerCrashError(
                        reason or f"the worker analysing it died {kills[running.path]} times (out of memory, or a "
                                  "crash in native code: see the Ray worker logs)", path=running.path)
                else:
                    slot.queue.appendleft(running)
                for task in reversed(slot.queue):
                    task.ref = task.started = None
                    todo.appendleft(task)
            if spares:
                spares -= 1
                start()
            elif not slots and self.nodes:
                raise ClusterError("every Ray worker died and no replacement could be started")
            elif not slots:
                raise ClusterError("no Ray worker could start (the Ray logs on the nodes say why; a driver whose "
                                   "RAY_AUTH_MODE differs from the cluster's does this too: set RAY_AUTH_MODE=token "
                                   "or disabled to match the cluster)")

        while todo or any(s.queue for s in slots):
            now = time.monotonic()
            for slot in [s for s in slots if s.ready is None]:
                while todo and len(slot.queue) < self.per_actor:
                    task = todo.popleft()
                    yield from self._submit(slot, task)
                if slot.queue and slot.queue[0].started is None:
                    slot.queue[0].started = now
            waiting = {s.ready: s for s in slots if s.ready is not None}
            waiting.update({t.ref: s for s in slots for t in s.queue})
            if not waiting:
                raise ClusterError("no Ray worker is left to analyse the remaining files")
            try:
                done, _ = ray.wait(list(waiting), num_returns=1, timeout=self.poll_s)
            except RayError as exc:
                raise ClusterError(f"lost the Ray cluster: {exc}") from None
            if not done:
                self._head.check()
            for ref in done:
                slot = waiting[ref]
                if slot not in slots:
                    continue                # its actor was already handled as dead in this round
                try:
                    value = ray.get(ref, timeout=self.poll_s + 60)
                except RayTaskError as exc:
                    cause = exc.cause if isinstance(exc.cause, Exception) else exc
                    if isinstance(cause, CancelledError | ModelError):
                        raise cause from None   # as in the sequential batch: a model that fails fails every file
                    if slot.ready is not None and ref == slot.ready:
                        raise ClusterError(f"a Ray worker could not start: {cause}") from None
                    yield self._finish(slot, ref).path, cause
                    continue
                except RayError as exc:         # the actor died, or its node, or the bytes it was sent
                    log.debug("ray: actor lost", exc_info=exc)
                    yield from lost(slot)
                    continue
                if slot.ready is not None and ref == slot.ready:
                    self._check_worker(value)
                    slot.ready = None
                    continue
                task = self._finish(slot, ref)
                yield task.path, self._checked(task.path, task.sha256, value)
            now = time.monotonic()
            for slot in list(slots):
                if slot.ready is not None and now - slot.since > self.start_timeout:
                    self._kill(ray, slot)       # the others go on without it
                    slots.remove(slot)
                    log.warning("ray: a worker did not load the model within %.0f s; going on without it",
                                self.start_timeout)
                    if not slots:
                        raise ClusterError(f"no Ray worker loaded the model within {self.start_timeout:.0f} s "
                                           "(no free slot on the cluster, or a node is unreachable)")
                    continue
                head = slot.queue[0] if slot.queue else None
                if head and head.started is not None and now - head.started > self.file_timeout:
                    yield from lost(slot, f"no result within {self.file_timeout:.0f} s; its worker was stopped")

    def _submit(self, slot: _Slot, task: _Task) -> Iterator[Outcome]:
        """Queue one file on an actor; a file the driver cannot read is its own error line at once."""
        if self.ship_bytes:
            try:
                data = Path(task.path).read_bytes()
            except OSError as exc:
                yield task.path, BadInputError(f"cannot read it to ship it to a worker: {exc.strerror}",
                                               path=task.path)
                return
            import hashlib

            task.sha256 = hashlib.sha256(data).hexdigest()
            task.ref = slot.handle.analyse.remote(task.path, data)
        else:
            task.sha256 = sha256_or_none(task.path)
            task.ref = slot.handle.analyse.remote(task.path)
        slot.queue.append(task)

    @staticmethod
    def _finish(slot: _Slot, ref) -> _Task:
        task = next(t for t in slot.queue if t.ref == ref)
        slot.queue.remove(task)
        if slot.queue and slot.queue[0].started is None:
            slot.queue[0].started = time.monotonic()
        return task

    @staticmethod
    def _checked(path: str, driver_sha256: str | None, result: dict) -> dict | Exception:
        worker_sha256 = result.get("file", {}).get("sha256")
        if worker_sha256 != driver_sha256:
            return EvidenceMismatchError(
                f"the worker read bytes with SHA-256 {worker_sha256}, this machine's file has {driver_sha256}: "
                "the path shows another file on that node, or the file changed during the batch", path=path)
        return result

    def _check_worker(self, info: dict) -> None:
        if info["key"] != self.key:
            raise ModelError(f"the Ray worker on {info['node']} has another model or software at "
                             f"{self.model_dir} (result key {info['key']} != {self.key}): every node needs the same "
                             "model folder at the same path", path=self.model_dir)
        self.nodes.add(info["node"])

    @staticmethod
    def _kill(ray, slot: _Slot) -> None:
        try:
            ray.kill(slot.handle, no_restart=True)
        except Exception as exc:    # already dead, or the cluster is gone: nothing left to stop
            log.debug("ray: kill failed", exc_info=exc)
