"""`make package`: build the one-folder desktop bundle with PyInstaller (packaging/ffd-desktop.spec), then run its
smoke check; prints and records (dist/ffd-desktop-build.json) the build time, the bundle's size and the check.

Exit codes: 0 built and checked, 1 PyInstaller failed, 2 the smoke check failed."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from smoke_check import smoke_check  # noqa: E402  (packaging/, this script's folder)

from core.atomic import atomic_write_text  # noqa: E402


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    dist, work = ROOT / "dist", ROOT / "build" / "pyinstaller"
    started = time.monotonic()
    built = subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                            "--distpath", str(dist), "--workpath", str(work),
                            str(ROOT / "packaging" / "ffd-desktop.spec")], cwd=ROOT)
    build_s = time.monotonic() - started
    if built.returncode != 0:
        print(f"make package: PyInstaller failed (exit {built.returncode})", file=sys.stderr)
        return 1
    bundle = dist / "ffd-desktop"
    size = folder_size(bundle)
    print(f"bundle {bundle}: {size / 2**30:.2f} GiB, built in {build_s / 60:.1f} min")
    report = smoke_check(bundle)
    record = {"bundle": str(bundle), "size_bytes": size, "build_seconds": round(build_s, 1),
              "machine": f"{platform.machine()}, {platform.platform()}, Python {platform.python_version()}",
              "smoke_check": report}
    atomic_write_text(dist / "ffd-desktop-build.json", json.dumps(record, indent=1) + "\n")
    print(f"smoke check {'passed' if report['passed'] else 'FAILED'}: {json.dumps(report, indent=1)}")
    return 0 if report["passed"] else 2


if __name__ == "__main__":
    sys.exit(main())
