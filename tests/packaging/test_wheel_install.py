"""The wheel works outside the checkout: built from the project's files, installed (not editable) into a fresh
virtual environment, run from an unrelated working directory, it finds its default model, configs and fonts.

Stays offline and fast: the wheel is built without build isolation and installed with --no-deps; the fresh venv
sees the project venv's third-party packages through a .pth line (a venv's --system-site-packages would reach the
base interpreter's packages, which lack torch). That line adds the folder only: the editable install's finder in
it is not run, so `core` can only come from the wheel, which the test checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import core
from tests.conftest import require_data

ROOT = Path(__file__).resolve().parents[2]


def _run(cmd, cwd, env=None, timeout=600):
    run = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"{cmd}\n{run.stdout}\n{run.stderr}"
    return run


def _project_files() -> list[str]:
    """What a clean clone holds (tracked files) plus new files not yet committed; never ignored outputs."""
    listing = _run(["git", "ls-files", "-co", "--exclude-standard", "-z"], ROOT).stdout
    return [name for name in listing.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin folder, wheel path): the wheel built from a copy of the project and installed into a new venv."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in _project_files():       # a copy: the build writes build/ and *.egg-info next to its sources
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", tmp / "dist", src], tmp)
    wheel = next((tmp / "dist").glob("ffd_desktop-*.whl"))
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": env_dir, "platbase": env_dir}))
    (site / "project-venv-packages.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([sys.executable, "-m", "pip", "--python", env_dir / "bin" / "python", "install", "--no-deps",
          "--no-index", "-q", wheel], tmp)
    return env_dir / "bin", wheel


def _clean_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FFD_RESOURCES", "FFD_MODEL", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(FFD_DATA_DIR=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen")
    return env


def test_wheel_carries_the_resources(installed):
    names = set(zipfile.ZipFile(installed[1]).namelist())
    for needed in ("ffd_resources/models/default/model.json", "ffd_resources/models/default/backbone.safetensors",
                   "ffd_resources/model_configs/ffd-compact.json", "ffd_resources/fonts/DejaVuSans.ttf",
                   "ffd_resources/icons/ffd-desktop.png", "ffd_resources/icons/ffd-desktop.svg"):
        assert needed in names
    assert not [name for name in names if name.startswith("ffd_resources/towers/")]   # recipe inputs, not the app's


def test_installed_wheel_analyses_a_real_clip_from_elsewhere(installed, tmp_path):
    bin_dir, _ = installed
    clip = require_data("ffpp_c23_videos", "real", "004.mp4")
    work = tmp_path / "work"
    work.mkdir()
    env = _clean_env(tmp_path)
    python = bin_dir / "python"

    where = _run([python, "-c", "import core, ffd_desktop, ffd_resources; from core.paths import resources_dir; "
                  "print(core.__file__); print(ffd_desktop.__file__); print(resources_dir())"], work, env).stdout
    for line in where.split():
        assert Path(line).is_relative_to(bin_dir.parent) and not Path(line).is_relative_to(ROOT), where
    shipped = Path(where.split()[2]) / "models" / "default"

    listing = _run([bin_dir / "ffd", "models", "list"], work, env).stdout
    arch = json.loads((ROOT / "resources" / "models" / "default" / "model.json").read_text())["backbone"]["arch"]
    assert f"Default model: {shipped}" in listing and arch in listing

    assert _run([bin_dir / "ffd", "--version"], work, env).stdout.strip() == f"ffd {core.__version__}"
    assert (bin_dir / "ffd-desktop").is_file()
    assert _run([bin_dir / "ffd-desktop", "--version"], work, env).stdout.strip() == f"ffd-desktop {core.__version__}"

    run = _run([bin_dir / "ffd", "analyze", clip, "--max-frames", "3", "--json", "result.json",
                "--report", "case.pdf", "--case-number", "W-1", "--quiet"], work, env)
    result = json.loads((work / "result.json").read_text())
    name = json.loads((shipped / "model.json").read_text())["name"]
    assert result["software"]["version"] == core.__version__
    for detector in ("hamlet", "mfclip"):
        det = result["detectors"][detector]
        assert det["verdict"] in ("real", "fake") and 0.0 <= det["video_score"] <= 1.0
        assert det["model"]["name"] == name
    assert "hamlet" in run.stdout and (work / "case.pdf").stat().st_size > 10_000
