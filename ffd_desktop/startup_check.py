"""Start-up check, run before Qt loads its platform plugin (Linux only).

Why: when a system library of the xcb or wayland plugin is missing (a minimal Debian/Ubuntu lacks libxcb-cursor0,
libxcb-icccm4, libxcb-keysyms1), or there is no display at all, Qt aborts with "Could not load the Qt platform
plugin ... Reinstalling the application may fix this problem", which names neither the library nor a way out.
This module asks `ldd` which of the plugin's libraries are not found and says which package provides each, and how
to work without a window. Imports nothing from Qt.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

EXIT_NO_WINDOW = 2          # no display, or a missing system library: documented in the README
PLUGINS = {"xcb": "libqxcb.so", "wayland": "libqwayland.so"}    # the platforms that need a display
DISPLAY_VARIABLE = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}
# Sonames whose Debian package does not follow the naming rule below.
PACKAGE_EXCEPTIONS = {"libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
                      "libgobject-2.0.so.0": "libglib2.0-0", "libz.so.1": "zlib1g", "libstdc++.so.6": "libstdc++6"}
HEADLESS_HINT = ("Without a window: the `ffd` command line does the same analyses (`ffd analyze FILE`, `ffd --help`), "
                 "or run the app headless with QT_QPA_PLATFORM=offscreen.")


def debian_package(soname: str) -> str | None:
    """The Debian/Ubuntu package of a library, by Debian policy 8.1: the soname's name and version, lower case,
    with a hyphen between them when the name ends in a digit (libxcb-icccm.so.4 -> libxcb-icccm4,
    libxkbcommon-x11.so.0 -> libxkbcommon-x11-0, libX11.so.6 -> libx11-6). None for Qt's own libraries, which
    come with PySide6, and for a name the rule does not fit."""
    if soname in PACKAGE_EXCEPTIONS:
        return PACKAGE_EXCEPTIONS[soname]
    match = re.fullmatch(r"(.+)\.so\.(\d+)(?:\.\d+)*", soname)
    if not match or soname.startswith(("libQt6", "libpyside6", "libshiboken6")):
        return None
    name, version = match.group(1).lower(), match.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def _provider(soname: str) -> str:
    package = debian_package(soname)
    if package:
        return f"Debian/Ubuntu package {package}"
    if soname.startswith(("libQt6", "libpyside6", "libshiboken6")):
        return "part of PySide6: reinstall FFD Desktop"
    return "(find its package with `apt-file search " + soname + "`)"


def missing_libraries(plugin: Path) -> list[str]:
    """Sonames the plugin (or a library it loads) needs and the dynamic loader cannot find, in ldd's order.
    Empty when ldd is unavailable: then Qt's own message is all there is."""
    ldd = shutil.which("ldd")
    if ldd is None or not plugin.is_file():
        return []
    out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=30).stdout
    found = re.findall(r"^\s*(\S+) => not found", out, flags=re.MULTILINE)
    return list(dict.fromkeys(found))


def platform_plugin(name: str) -> Path | None:
    """PySide6's platform plugin file (also inside a PyInstaller bundle), found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins" / "platforms" / PLUGINS[name]


def candidate_platforms(env) -> list[str]:
    """The display platforms Qt will try, in order: those QT_QPA_PLATFORM names, else wayland and/or xcb.
    Empty when Qt is told to run without a display (offscreen, minimal, vnc, ...)."""
    requested = [p.split(":")[0].strip() for p in env.get("QT_QPA_PLATFORM", "").split(";") if p.strip()]
    if requested:
        return [p for p in requested if p in PLUGINS] if requested[0] in PLUGINS else []
    return ["wayland", "xcb"]


def problem(env=None, plugins: dict[str, Path | None] | None = None) -> str | None:
    """What stops the window from opening, as a message for the user; None when nothing known does.
    `plugins` maps a platform to the plugin file to check (default: PySide6's own)."""
    if not sys.platform.startswith("linux"):
        return None
    env = os.environ if env is None else env
    platforms = candidate_platforms(env)
    if not platforms:
        return None
    usable = [p for p in platforms if env.get(DISPLAY_VARIABLE[p])]
    if not usable:
        wanted = sorted({DISPLAY_VARIABLE[p] for p in platforms})
        unset = f"neither {wanted[0]} nor {wanted[1]} is set" if len(wanted) == 2 else f"{wanted[0]} is not set"
        return (f"ffd-desktop cannot open its window: there is no display ({unset}: a server, a container or an "
                f"SSH session without X forwarding).\n{HEADLESS_HINT}")
    reports = []
    for name in usable:
        plugin = (plugins or {}).get(name) or platform_plugin(name)
        missing = missing_libraries(plugin) if plugin is not None else []
        if not missing:
            return None                  # Qt can use this platform
        reports.append((name, missing))
    lines = []
    for name, missing in reports:
        lines.append(f'ffd-desktop cannot open its window: Qt\'s "{name}" platform plugin needs system libraries '
                     "that are not installed:")
        lines += [f"  {soname:28} {_provider(soname)}" for soname in missing]
    packages = sorted({debian_package(s) for _, missing in reports for s in missing} - {None})
    if packages:
        lines.append(f"Install them (Debian/Ubuntu):  sudo apt install {' '.join(packages)}")
    lines.append(HEADLESS_HINT)
    return "\n".join(lines)
