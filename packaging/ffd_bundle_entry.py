"""Entry point of the bundle's two executables, `ffd` (command line) and `ffd-desktop` (the window), chosen by the
executable's name: one PyInstaller analysis of the dependencies (torch alone takes minutes) serves both."""

import multiprocessing
import sys
from pathlib import Path


def main() -> int:
    if Path(sys.executable).stem.lower() == "ffd":
        from core.cli import main as run
    else:
        from ffd_desktop.app import main as run
    return run()


if __name__ == "__main__":
    multiprocessing.freeze_support()     # a frozen program must say so before any worker process starts
    sys.exit(main())
