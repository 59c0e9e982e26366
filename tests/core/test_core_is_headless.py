"""core/ must stay usable without a display: no Qt import anywhere under it (checked on the source, and live)."""

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6")


def test_no_module_under_core_imports_qt():
    offenders = []
    for file in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{file.relative_to(CORE.parent)}: {n}" for n in names if n.split(".")[0] in QT_MODULES]
    assert offenders == []
    assert len(list(CORE.rglob("*.py"))) > 10  # the scan really looked at the package


def test_importing_the_engine_loads_no_qt():
    code = ("import sys, core.engine, core.cli, core.models, core.detectors.registry as r; "
            "[r.detector_class(n) for n in r.available_detectors()];"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
