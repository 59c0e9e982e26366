"""Files per minute of `ffd batch`: the local batch, and `--ray local` with 1 and 2 actors, on the FF++ clips.

    python benchmarks/cluster_bench.py [--model DIR] [--fps 1] [--repeat 1] [--runs local,ray1,ray2]
                                       [--csv benchmarks/cluster_results.csv]

Runs: local (the plain local batch), ray1 / ray2 (`--ray local --ray-actors 1` / `2`), local1 (the local batch with
OMP_NUM_THREADS=1, as each Ray worker runs: on a busy machine one thread per process can be the faster choice).
Each run is the real command as a user types it (a subprocess, a fresh results file), timed from start to exit.
New lines are watched as they land, so each run also gives its start-up (time to the first line: Python, the model,
for Ray the cluster and every actor's model) and its steady rate (lines after the first, per minute), which is what
a batch of thousands of files runs at. The per-file cost is the mean `duration_s` of the lines (one file's
analysis on one worker). Figures depend on the machine; the header and the CSV name it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ffpp_c23_videos"
RUNS = {"local": [], "ray1": ["--ray", "local", "--ray-actors", "1"], "ray2": ["--ray", "local", "--ray-actors", "2"],
        "local1": []}   # the local batch on one thread, as a Ray worker with one CPU runs (Ray sets OMP_NUM_THREADS=1)
ENV = {"local1": {"OMP_NUM_THREADS": "1"}}


def run_batch(folder: Path, out: Path, extra: list[str], env: dict, args) -> dict:
    """One `ffd batch` run; the time each line appeared, as seen by polling the results file."""
    command = [sys.executable, "-m", "core.cli", "batch", str(folder), "--out", str(out), "--quiet",
               "--fps", str(args.fps), *(["--model", args.model] if args.model else []), *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})
    seen: list[float] = []
    while proc.poll() is None:
        count = out.read_bytes().count(b"\n") if out.exists() else 0
        seen.extend([time.perf_counter() - started] * (count - len(seen)))
        time.sleep(0.05)
    wall = time.perf_counter() - started
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}:\n{stderr[-2000:]}")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    seen.extend([wall] * (len(lines) - len(seen)))
    steady = (len(seen) - 1) / (seen[-1] - seen[0]) * 60 if len(seen) > 1 and seen[-1] > seen[0] else float("nan")
    return {"files": len(lines), "wall_s": wall, "files_per_min": len(lines) / wall * 60,
            "first_line_s": seen[0], "steady_files_per_min": steady,
            "per_file_s": sum(ln["duration_s"] for ln in lines) / len(lines)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the installed default model)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of clips (default: the FF++ c23 clips)")
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=1, help="copies of each clip (more files: steadier rates)")
    parser.add_argument("--runs", default="local,ray1,ray2", help=f"any of {', '.join(RUNS)}")
    parser.add_argument("--csv", default="benchmarks/cluster_results.csv")
    args = parser.parse_args()

    from core.atomic import atomic_write_text
    from core.engine.device import describe_machine

    clips = sorted(Path(args.data).rglob("*.mp4"))
    if not clips:
        raise SystemExit(f"no .mp4 clips under {args.data}")
    machine = describe_machine()
    print(f"machine: {machine}\nfiles: {len(clips) * args.repeat} ({len(clips)} clips x {args.repeat}), "
          f"{args.fps:g} frame(s) per second of video")
    print(f"{'run':6s} {'wall s':>8s} {'files/min':>10s} {'1st line s':>11s} {'steady/min':>11s} {'per file s':>11s}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ffd-cluster-bench-") as tmp:
        folder = Path(tmp) / "clips"
        folder.mkdir()
        for n in range(args.repeat):
            for clip in clips:
                shutil.copy(clip, folder / f"{n}_{clip.parent.name}_{clip.name}")
        for name in args.runs.split(","):
            result = run_batch(folder, Path(tmp) / f"{name}.jsonl", RUNS[name], ENV.get(name, {}), args)
            rows.append({"run": name, **result})
            print(f"{name:6s} {result['wall_s']:8.1f} {result['files_per_min']:10.2f} {result['first_line_s']:11.1f} "
                  f"{result['steady_files_per_min']:11.2f} {result['per_file_s']:11.2f}", flush=True)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["machine", "fps", "run", "files", "wall_s", "files_per_min", "first_line_s",
                     "steady_files_per_min", "per_file_s"])
    writer.writerows([machine, args.fps, *(round(v, 3) if isinstance(v, float) else v for v in row.values())]
                     for row in rows)
    atomic_write_text(args.csv, text.getvalue())
    print(f"csv: {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
