"""`ffd-desktop` refuses to start, exit 2, with one clear message (the missing library and its package, how to run
headless) when Qt's platform plugin could not load or there is no display: never Qt's own abort."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ffd_desktop.startup_check import debian_package, missing_libraries, platform_plugin, problem

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check runs on Linux only")


def ffd_desktop(env_changes: dict, tmp_path: Path, pythonpath: Path | None = None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "PYTHONPATH")}
    env.update(FFD_DATA_DIR=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"), **env_changes)
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    script = Path(sys.executable).parent / "ffd-desktop"
    return subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=120)


def test_no_display_says_so_and_exits_2(tmp_path):
    run = ffd_desktop({}, tmp_path)
    assert run.returncode == 2, run.stderr
    assert "no display" in run.stderr and "neither DISPLAY nor WAYLAND_DISPLAY is set" in run.stderr
    assert "QT_QPA_PLATFORM=offscreen" in run.stderr and "ffd analyze" in run.stderr
    assert "Could not load the Qt platform plugin" not in run.stderr and "Traceback" not in run.stderr

    explicit = ffd_desktop({"QT_QPA_PLATFORM": "xcb"}, tmp_path)
    assert explicit.returncode == 2 and "DISPLAY is not set" in explicit.stderr


def _pyside_with_a_hidden_library(root: Path) -> Path:
    """A PySide6 folder whose xcb plugin is a copy of the real one, with its dependency libxcb-cursor.so.0 renamed
    libXCB-cursor.so.0 in the dynamic section: no such file exists anywhere (names are case-sensitive), so the
    dynamic loader reports it missing, as on a machine without the package. Qt's own libraries stay reachable
    through the plugin's $ORIGIN/../../lib run path. Found first on PYTHONPATH, the check looks at this plugin."""
    real = platform_plugin("xcb")
    if real is None or not real.is_file():
        pytest.skip("PySide6 has no xcb platform plugin here")
    data = real.read_bytes()
    needed = b"\0libxcb-cursor.so.0\0"
    assert data.count(needed) == 1, "the xcb plugin no longer names libxcb-cursor.so.0"
    package = root / "PySide6"
    platforms = package / "Qt" / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    (package / "__init__.py").write_text("raise SystemExit('the start-up check let Qt start')\n")
    (package / "Qt" / "lib").symlink_to(real.parents[2] / "lib")
    (platforms / "libqxcb.so").write_bytes(data.replace(needed, b"\0libXCB-cursor.so.0\0"))
    return root


def test_a_missing_library_is_named_with_its_package_and_exits_2(tmp_path):
    root = _pyside_with_a_hidden_library(tmp_path / "site")
    assert "libXCB-cursor.so.0" in missing_libraries(root / "PySide6/Qt/plugins/platforms/libqxcb.so")

    run = ffd_desktop({"DISPLAY": ":99"}, tmp_path, pythonpath=root)
    assert run.returncode == 2, run.stderr
    assert 'Qt\'s "xcb" platform plugin needs system libraries' in run.stderr
    assert "libXCB-cursor.so.0" in run.stderr and "Debian/Ubuntu package libxcb-cursor0" in run.stderr
    assert "sudo apt install" in run.stderr and "libxcb-cursor0" in run.stderr.splitlines()[-2]
    assert "QT_QPA_PLATFORM=offscreen" in run.stderr
    assert "the start-up check let Qt start" not in run.stderr and "Traceback" not in run.stderr


def test_this_machines_real_plugin(tmp_path):
    """Where this machine really lacks some of the xcb plugin's libraries (a minimal Debian), each is named."""
    missing = missing_libraries(platform_plugin("xcb"))
    if not missing:
        pytest.skip("every library of the xcb plugin is installed here")
    run = ffd_desktop({"DISPLAY": ":99"}, tmp_path)
    assert run.returncode == 2, run.stderr
    for soname in missing:
        assert soname in run.stderr and debian_package(soname) in run.stderr


def test_debian_package_names_and_headless_platforms():
    assert debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert debian_package("libxcb-keysyms.so.1") == "libxcb-keysyms1"
    assert debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert debian_package("libX11-xcb.so.1") == "libx11-xcb1"
    assert debian_package("libglib-2.0.so.0") == "libglib2.0-0"
    assert debian_package("libQt6XcbQpa.so.6") is None          # ships with PySide6, not a system package
    assert problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert problem({"QT_QPA_PLATFORM": "minimal"}) is None
