"""`ffd batch --ray`: a real local Ray cluster (started in this module), the real tiny model, the six real files of
the batch tests. Same scores as the sequential batch; a killed actor's files are retried on a replacement; a file
that kills two workers gets an error line; bytes that changed after the driver hashed them are an error line; a
driver killed half-way resumes; a lost cluster stops the batch with exit 7 and the finished lines kept."""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from core.batch import ResultsFile, result_key, run_batch, sequential
from tests.core.test_batch import copy_evidence, inputs, read_lines
from tests.core.test_cli import ffd


@pytest.fixture(scope="module")
def ray_cluster():
    """A real Ray cluster on this machine, two CPU slots, loopback only, no dashboard; shut down after."""
    saved = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"     # read at import: bind to 127.0.0.1
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)   # never one running
    yield ray
    ray.shutdown()
    if saved is None:
        os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)


@pytest.fixture
def evidence(tmp_path) -> Path:
    """The batch tests' six real files: four FFHQ / StyleGAN faces and two FF++ clips."""
    return copy_evidence(tmp_path)


@pytest.fixture(scope="module")
def ray_setup(tmp_path_factory):
    """Settings, model folder and result key as `ffd batch --model TINY --max-frames 3` has them."""
    from core.cli import _result_identity
    from core.engine import AnalysisSettings
    from core.media import Sampling
    from core.models import read_bundle
    from tests.conftest import make_tiny_model

    model_dir = make_tiny_model(tmp_path_factory.mktemp("tiny-model"))
    settings = AnalysisSettings(sampling=Sampling("count", 3))
    return model_dir, settings, result_key(_result_identity(settings, read_bundle(model_dir)))


@pytest.fixture(scope="module")
def sequential_scores(ray_setup, tmp_path_factory):
    """The sequential batch's scores for the six files, by file name."""
    from core.engine import analyze
    from core.models import load_model, read_bundle

    model_dir, settings, key = ray_setup
    model = load_model(read_bundle(model_dir), settings.detectors)
    folder = tmp_path_factory.mktemp("sequential")
    out = folder / "results.jsonl"
    with ResultsFile(out, key) as results:
        run_batch(inputs(copy_evidence(folder)), lambda p: analyze(p, settings, model).to_dict(), results,
                  executor=sequential)
    return scores(read_lines(out))


def scores(lines: list[dict]) -> dict:
    """Every score in the lines: per detector the file's score and each face's, by file name."""
    return {Path(ln["file"]["path"]).name: {
        name: [det["video_score"]] + [f["score"] for fr in det["frames"] for f in fr["faces"]]
        for name, det in ln["detectors"].items()} for ln in lines}


def assert_same_scores(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for name, by_detector in expected.items():
        for detector, values in by_detector.items():
            assert got[name][detector] == pytest.approx(values, abs=1e-5), (name, detector)


def executor(ray_setup, **options):
    from core.cluster import RayExecutor

    model_dir, settings, key = ray_setup
    return RayExecutor("local", str(model_dir), settings, key, **options)


def test_same_scores_as_the_sequential_batch(ray_cluster, ray_setup, evidence, sequential_scores, tmp_path):
    out, files = tmp_path / "results.jsonl", inputs(evidence)
    on_ray = executor(ray_setup)
    with ResultsFile(out, ray_setup[2]) as results:
        summary = run_batch(files, None, results, executor=on_ray)
    assert (summary.analysed, summary.failed) == (6, 0)
    assert on_ray.started_actors == 2 and on_ray.nodes       # one actor per CPU slot, no replacement needed
    lines = read_lines(out)
    assert sorted(ln["file"]["path"] for ln in lines) == files
    assert_same_scores(scores(lines), sequential_scores)


def test_killed_actor_files_are_retried_on_a_replacement(ray_cluster, ray_setup, evidence, sequential_scores,
                                                         tmp_path):
    """With --ship-bytes: the workers get the bytes from the driver, and the lines still name the evidence."""
    out, files = tmp_path / "results.jsonl", inputs(evidence)
    on_ray = executor(ray_setup, ship_bytes=True)
    killed = []

    def kill_one_busy_actor(progress) -> None:
        if progress.done == 1 and not killed:
            busy = next(s for s in on_ray.slots if s.queue)
            killed.append(busy.queue[0].path)
            ray_cluster.kill(busy.handle, no_restart=True)

    with ResultsFile(out, ray_setup[2]) as results:
        summary = run_batch(files, None, results, executor=on_ray, progress=kill_one_busy_actor)
    assert killed and (summary.analysed, summary.failed) == (6, 0)
    assert on_ray.started_actors == 3                         # the two, and one replacement
    lines = read_lines(out)
    assert sorted(ln["file"]["path"] for ln in lines) == files   # exactly one line per file
    assert "ffd-shipped" not in out.read_text()                  # nothing names the workers' temporary copies
    assert_same_scores(scores(lines), sequential_scores)


def test_a_file_that_kills_two_workers_gets_an_error_line(ray_cluster, ray_setup, evidence, tmp_path):
    files = inputs(evidence)
    victim = next(f for f in files if f.endswith(".mp4"))
    on_ray = executor(ray_setup, actors=1)
    kills = []

    def kill_whoever_runs_the_victim() -> None:         # what an out-of-memory kill or a native crash does
        deadline = time.time() + 120
        while len(kills) < 2 and time.time() < deadline:
            for slot in list(on_ray.slots):
                queue = list(slot.queue)
                if slot.ready is None and queue and queue[0].path == victim and queue[0].started \
                        and slot.handle not in kills:
                    kills.append(slot.handle)
                    ray_cluster.kill(slot.handle, no_restart=True)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_whoever_runs_the_victim, daemon=True)
    killer.start()
    out = tmp_path / "results.jsonl"
    with ResultsFile(out, ray_setup[2]) as results:
        summary = run_batch(files, None, results, executor=on_ray)
    killer.join(5)
    assert len(kills) == 2 and summary.failed_paths == [victim] and summary.analysed == 6
    lines = {ln["file"]["path"]: ln for ln in read_lines(out)}
    assert sorted(lines) == files
    error = lines[victim]["errors"][0]
    assert lines[victim]["batch"]["status"] == "error" and error["type"] == "WorkerCrashError"
    assert "died 2 times" in error["message"] and lines[victim]["file"]["sha256"]
    assert all(ln["batch"]["status"] == "ok" for p, ln in lines.items() if p != victim)


def test_bytes_changed_after_the_driver_hashed_them_are_an_error_line(ray_cluster, ray_setup, evidence, tmp_path):
    """One actor, three files queued on it: the third is replaced before the worker opens it, so the worker's
    SHA-256 differs from the driver's."""
    import shutil

    files = inputs(evidence)
    photos = [f for f in files if f.endswith(".jpg")]
    third = photos[2]

    def swap_third(progress) -> None:
        if progress.done == 1:
            shutil.copy(photos[3], third + ".tmp")
            os.replace(third + ".tmp", third)

    out = tmp_path / "results.jsonl"
    with ResultsFile(out, ray_setup[2]) as results:
        summary = run_batch(photos, None, results, executor=executor(ray_setup, actors=1, per_actor=3),
                            progress=swap_third)
    assert summary.failed_paths == [third]
    line = {ln["file"]["path"]: ln for ln in read_lines(out)}[third]
    error = line["errors"][0]
    assert error["type"] == "EvidenceMismatchError" and error["code"] == 2 and third in error["message"]
    assert "SHA-256" in error["message"]


# ---------------------------------------------------------------------------------------------- the real CLI


def test_cli_kill_9_at_half_then_resume_on_a_local_cluster(evidence, tmp_path, tiny_model_dir):
    out = tmp_path / "results.jsonl"
    args = ["batch", str(evidence), "--out", str(out), "--model", str(tiny_model_dir), "--max-frames", "3",
            "--ray", "local", "--ray-actors", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", *args, "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300
    while (out.read_bytes().count(b"\n") if out.exists() else 0) < 3 and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)       # the driver and the cluster it started, as a power cut would
    proc.communicate()
    done = read_lines(out)
    assert 3 <= len(done) < 6, f"the batch was not killed half-way ({len(done)} lines)"
    kept = out.read_bytes()

    run = ffd(*args)
    assert run.returncode == 0, run.stderr
    assert f"{len(done)} skipped (already done)" in run.stdout
    assert f"{6 - len(done)} file(s) to analyse; {len(done)} already done" in run.stderr
    assert out.read_bytes().startswith(kept)
    lines = read_lines(out)
    assert sorted(ln["file"]["path"] for ln in lines) == inputs(evidence)
    assert all(ln["batch"]["status"] == "ok" and ln["detectors"] for ln in lines)


def test_cli_without_ray_says_how_to_install_it(evidence, tmp_path, tiny_model_dir):
    """Ray hidden from a real `ffd` process: --ray exits 2 saying how to install the extra; the cluster options
    without --ray exit 2 too. Nothing is written."""
    out = str(tmp_path / "r.jsonl")
    with_ray = ["batch", str(evidence), "--out", out, "--model", str(tiny_model_dir), "--ray", "auto"]
    lone = ["batch", str(evidence), "--out", out, "--ship-bytes"]
    script = ("import sys; sys.modules['ray'] = None; from core.cli import main; "
              f"print(main({with_ray!r}), main({lone!r}))")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["2", "2"], run.stderr
    assert "--ray needs Ray, an optional extra: pip install 'ffd-desktop[cluster]'" in run.stderr
    assert "--ship-bytes and --ray-actors need --ray ADDRESS" in run.stderr
    assert not (tmp_path / "r.jsonl").exists()

    lazy = subprocess.run([sys.executable, "-c", "import sys, core.cli, core.cluster; print('ray' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert lazy.stdout.strip() == "False", lazy.stderr        # the desktop install never needs Ray


def test_cli_lost_cluster_stops_with_exit_7_and_keeps_finished_lines(evidence, tmp_path, tiny_model_dir):
    """A head node of its own (`ray start --head --block`, loopback only) is killed after the first line."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    ray_cli = Path(sys.executable).with_name("ray")
    head = subprocess.Popen([str(ray_cli), "start", "--head", "--block", "--port", str(port), "--num-cpus", "1",
                             "--include-dashboard", "false", "--node-ip-address", "127.0.0.1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        out = tmp_path / "results.jsonl"
        driver = subprocess.Popen([sys.executable, "-m", "core.cli", "batch", str(evidence), "--out", str(out),
                                   "--model", str(tiny_model_dir), "--max-frames", "3", "--quiet",
                                   "--ray", f"127.0.0.1:{port}"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 180
        while not (out.exists() and out.read_bytes().count(b"\n")) and driver.poll() is None \
                and time.time() < deadline:
            time.sleep(0.05)
        kill_tree(head.pid)                         # the whole cluster is gone at once, workers included
        stdout, stderr = driver.communicate(timeout=120)
    finally:
        kill_tree(head.pid)
        head.wait(30)
        current = Path(tempfile.gettempdir(), "ray", "ray_current_cluster")     # `ray stop` would remove it
        with contextlib.suppress(OSError):
            if current.read_text().strip() == f"127.0.0.1:{port}":
                current.unlink()
    assert driver.returncode == 7, (stdout, stderr)
    kept = read_lines(out)
    assert 1 <= len(kept) < 6 and f"the {len(kept)} finished line(s) are kept in {out}" in stderr
    assert "lost the Ray cluster" in stderr and "Traceback" not in stderr


def kill_tree(leader: int) -> None:
    """SIGKILL a process group and every descendant (Ray starts its workers in sessions of their own)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = (int(fields[1]), int(fields[2]))     # ppid, pgid
    doomed = {pid for pid, (_, pgid) in parents.items() if pgid == leader}
    while True:
        more = {pid for pid, (ppid, _) in parents.items() if ppid in doomed} - doomed
        if not more:
            break
        doomed |= more
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
