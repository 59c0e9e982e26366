"""Smoke check of the built bundle (run by `make package` after PyInstaller): the bundle, with an empty
environment and no Python of this machine on PATH, must

- print the project's version (`ffd --version`),
- analyse a real FaceForensics++ clip with its own shipped default model (`ffd analyze`) and give the same scores,
  to 1e-4, as the virtual environment's `ffd analyze` with that same model folder,
- refuse to open a window without a display (`ffd-desktop`, exit 2 naming the problem),
- open its window headless (QT_QPA_PLATFORM=offscreen) and close cleanly on SIGTERM.

Run alone: `.venv/bin/python packaging/smoke_check.py [dist/ffd-desktop]`; exit 0 passed, 2 failed."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "data" / "ffpp_c23_videos" / "fake" / "519_515.mp4"
TOLERANCE = 1e-4


def bare_env(home: Path, **extra) -> dict:
    """What a fresh login on a machine without Python would have: no venv, no PYTHONPATH, private data dirs."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "FFD_DATA_DIR": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config"), "FFD_OFFLINE": "1"}
    return {**env, **extra}


def scores(result: dict) -> dict[str, list[float]]:
    """Per detector: the video score, then every face's score in frame order."""
    return {name: [det["video_score"]] + [f["score"] for fr in det["frames"] for f in fr["faces"]]
            for name, det in result["detectors"].items()}


def compare(a: dict, b: dict) -> float:
    """The largest score difference; infinite when the two results do not score the same faces."""
    sa, sb = scores(a), scores(b)
    if sa.keys() != sb.keys() or any(len(sa[k]) != len(sb[k]) for k in sa):
        return float("inf")
    return max((abs(x - y) for k in sa for x, y in zip(sa[k], sb[k], strict=True)), default=0.0)


def smoke_check(bundle: Path) -> dict:
    import core

    checks: dict[str, object] = {}
    if not CLIP.is_file():
        return {"clip_ok": False, "clip": f"the real clip this check analyses is missing: {CLIP}", "passed": False}
    ffd, desktop = bundle / "ffd", bundle / "ffd-desktop"
    shipped = next(bundle.rglob("ffd_resources/models/default"))
    with tempfile.TemporaryDirectory(prefix="ffd-smoke-") as tmp:
        home = Path(tmp)
        env = bare_env(home)
        version = subprocess.run([ffd, "--version"], env=env, capture_output=True, text=True, timeout=300)
        checks["version"] = version.stdout.strip()
        checks["version_ok"] = version.stdout.strip() == f"ffd {core.__version__}"

        args = ["analyze", str(CLIP), "--max-frames", "6", "--device", "cpu", "--quiet"]
        started = time.monotonic()
        frozen = subprocess.run([ffd, *args, "--json", str(home / "bundle.json")], env=env, cwd=home,
                                capture_output=True, text=True, timeout=900)
        checks["bundle_analyze_seconds"] = round(time.monotonic() - started, 1)
        venv_ffd = Path(sys.executable).parent / "ffd"
        reference = subprocess.run([venv_ffd, *args, "--model", str(shipped), "--json", str(home / "venv.json")],
                                   capture_output=True, text=True, timeout=900)
        if frozen.returncode != 0 or reference.returncode != 0:
            checks["analyze_error"] = (frozen.stderr or reference.stderr)[-2000:]
            checks["analyze_ok"] = False
        else:
            a, b = (json.loads((home / n).read_text()) for n in ("bundle.json", "venv.json"))
            same_model = all(a["detectors"][d]["model"] == b["detectors"][d]["model"] for d in a["detectors"])
            diff = compare(a, b)
            checks["verdicts"] = {d: f"{v['verdict']} {v['video_score']:.4f}" for d, v in a["detectors"].items()}
            checks["faces_scored"] = sum(len(v) - 1 for v in scores(a).values())
            checks["max_score_difference"] = diff
            checks["same_model"] = same_model
            checks["result_version"] = a["software"]["version"]
            checks["analyze_ok"] = same_model and diff <= TOLERANCE and a["software"]["version"] == core.__version__

        no_display = subprocess.run([desktop], env=env, capture_output=True, text=True, timeout=300)
        checks["no_display_exit"] = no_display.returncode
        checks["no_display_ok"] = no_display.returncode == 2 and "no display" in no_display.stderr

        checks["window_ok"] = window_opens(desktop, bare_env(home, QT_QPA_PLATFORM="offscreen"), home)
    checks["passed"] = all(v for k, v in checks.items() if k.endswith("_ok"))
    return checks


def window_opens(desktop: Path, env: dict, home: Path) -> bool:
    """The window is up once its controllers open the case store; SIGTERM then closes it with exit 0."""
    proc = subprocess.Popen([desktop, "--no-preload"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started = time.monotonic()
    try:
        while not (home / "data" / "cases.sqlite3").exists() and proc.poll() is None:
            if time.monotonic() - started > 180:
                return False
            time.sleep(0.5)
        time.sleep(3)
        if proc.poll() is not None:
            return False
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    return proc.returncode == 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    report = smoke_check(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist" / "ffd-desktop")
    print(json.dumps(report, indent=1))
    sys.exit(0 if report["passed"] else 2)
