"""The Linux desktop entry and AppStream metainfo in packaging/linux: valid (by the freedesktop validators when this
machine has them), and naming the same id, executables and icon as the app."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ffd_desktop.app import APP_ID

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "packaging" / "linux"


def test_desktop_entry_launches_the_app_with_its_icon():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(LINUX / f"{APP_ID}.desktop")
    desktop = entry["Desktop Entry"]
    assert desktop["Exec"].split()[0] == "ffd-desktop" and desktop["Icon"] == APP_ID
    assert "video/mp4" in desktop["MimeType"] and "image/jpeg" in desktop["MimeType"]
    for icon in ("ffd-desktop.png", "ffd-desktop.svg"):
        assert (ROOT / "resources" / "icons" / icon).stat().st_size > 500


def test_metainfo_names_the_entry_and_binaries():
    root = ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"
    assert {b.text for b in root.find("provides")} == {"ffd-desktop", "ffd"}


@pytest.mark.parametrize("tool, args, name", [
    ("desktop-file-validate", [], f"{APP_ID}.desktop"),
    ("appstreamcli", ["validate", "--no-net"], f"{APP_ID}.metainfo.xml"),
])
def test_freedesktop_validators_accept_them(tool, args, name):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed here")
    run = subprocess.run([tool, *args, str(LINUX / name)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
