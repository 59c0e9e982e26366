"""`ffd-desktop` starts, shows its window, stays up until closed, and closes cleanly on SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def test_ffd_desktop_starts_and_stays_up(tmp_path):
    script = Path(sys.executable).parent / "ffd-desktop"
    assert script.is_file(), "the ffd-desktop entry point is not installed in this environment"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FFD_DATA_DIR": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "FFD_RESOURCES": str(tmp_path / "resources")}
    env.pop("FFD_MODEL", None)
    proc = subprocess.Popen([str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    try:
        # the window exists once its controllers have opened the case store
        while not (tmp_path / "data" / "cases.sqlite3").exists() and proc.poll() is None:
            assert time.monotonic() - started < 60, "no window after 60 s"
            time.sleep(0.2)
        while time.monotonic() - started < 5.0 and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, f"ffd-desktop exited with {proc.returncode}: {proc.communicate()[1][-2000:]}"
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr[-2000:]        # SIGTERM closes it cleanly...
    assert "Traceback" not in stderr
    assert (tmp_path / "config" / "FFD" / "FFD Desktop.ini").is_file()   # ...saving the window layout


def test_loading_a_model_after_the_preload_imports_no_project_module(tiny_model_dir):
    """Every module a model load needs is imported (and its objects frozen) by the GUI-thread preload: one imported
    later runs on the worker, holding the GIL, while the window is live, and stays in the garbage collector's walk."""
    code = ("import sys; from ffd_desktop.app import load_engine_libraries; load_engine_libraries(); "
            "before = set(sys.modules); from core.models import load_model, read_bundle; "
            f"load_model(read_bundle({str(tiny_model_dir)!r}), ['hamlet', 'mfclip']); "
            "print(sorted(m for m in set(sys.modules) - before if m.startswith('core')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"
