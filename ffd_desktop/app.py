"""Entry point of the desktop app (`ffd-desktop [--model DIR] [FILE ...]`)."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import signal
import sys

import core

# The engine's native libraries, loaded once on the GUI thread before the window is shown. Why: loading a native
# extension (dlopen and initialisation of torch, MediaPipe, ...) holds Python's GIL for 150-300 ms at a time, so
# doing it in the worker thread while the window is live would freeze the event loop that long. Once loaded, the
# worker's computations release the GIL often and the window stays fluid (tests/desktop measures it).
ENGINE_MODULES = (
    "torch", "open_clip", "safetensors.torch", "cv2",
    "mediapipe.python.solutions.face_detection", "mediapipe.python.solutions.face_mesh",
    "core.engine", "core.models", "core.backbones.backbone", "core.detectors.checkpoint", "core.faces",
    "core.detectors.hamlet", "core.detectors.mfclip",
    "core.forensics.heatmap", "core.cases", "core.report",
)
# The trainer's extra libraries (scikit-learn's metrics, about a second), loaded the same way, on the GUI thread, when
# the first training starts: only investigators who train pay for them.
TRAINING_MODULES = ("sklearn.metrics", "core.training.trainer", "core.detectors.clip_prompts")
APP_ID = "org.ffd.FFDDesktop"      # the .desktop entry's and the AppStream id (packaging/linux)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ffd-desktop", description="FFD Desktop: face forgery detection.")
    parser.add_argument("--model", metavar="DIR",
                        help="model folder to use (default: $FFD_MODEL, else the configured/shipped model)")
    parser.add_argument("--no-preload", action="store_true", help="load the model only when the first file comes")
    parser.add_argument("files", nargs="*", help="video or photo files to analyse at start")
    parser.add_argument("--version", action="version", version=f"ffd-desktop {core.__version__}")
    return parser


GIL_SWITCH_INTERVAL_S = 0.001
"""How long a worker thread running Python may keep the GIL once the GUI thread asks for it (CPython's default is
5 ms). Why: a repaint crosses between Python and Qt's C++ hundreds of times, releasing and re-taking the GIL each
time, and each re-take waits up to this interval while a worker runs Python (scanning a folder, building batches):
at 5 ms a 100 ms repaint of the training curves took 300 ms. Measured in tests/desktop/test_desktop_train.py."""


GC_INTERVAL_S = 0.5
"""How often the GUI thread checks whether a garbage collection is due (see _collect_garbage_on_the_gui_thread)."""
_garbage_collector = None   # kept for the process's lifetime: its timer is the only thing that collects


def create_app(qt_args: list[str] | None = None):
    """The QApplication with the app's names, Fusion style and dark theme (shared by main() and tests)."""
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from core.paths import resources_dir
    from ffd_desktop.settings import APPLICATION, ORGANISATION
    from ffd_desktop.views.style import STYLESHEET, palette

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "ffd-desktop", *(qt_args or [])])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(core.__version__)
    app.setDesktopFileName(APP_ID)    # Wayland and the task bar match the window to packaging/linux's .desktop entry
    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "ffd-desktop.png")))
    app.setStyle("Fusion")
    app.setPalette(palette())
    app.setStyleSheet(STYLESHEET)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    _collect_garbage_on_the_gui_thread()
    return app


def _collect_garbage_on_the_gui_thread() -> None:
    """Turn Python's automatic cyclic collection off and run it from a GUI-thread timer (pyqtgraph's
    GarbageCollector). Why: a collection runs in whichever thread happens to allocate, usually a worker, and a Qt
    object caught in a reference cycle (a widget and the lambda connected to its signal) is then destroyed from
    that thread, which Qt does not allow and which can crash the app."""
    global _garbage_collector
    if _garbage_collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _garbage_collector = GarbageCollector(interval=GC_INTERVAL_S)


def load_engine_libraries(report=None) -> None:
    """Import ENGINE_MODULES (see above); `report(name)` is told each one, e.g. to update a splash screen."""
    for name in ENGINE_MODULES:
        if report is not None:
            report(name)
        importlib.import_module(name)
    _freeze_loaded_objects()


def load_training_libraries() -> None:
    """Import TRAINING_MODULES (see above); instant once done."""
    for name in TRAINING_MODULES:
        importlib.import_module(name)
    _freeze_loaded_objects()


def _freeze_loaded_objects() -> None:
    """Exempt what the libraries just created (functions, classes, module data: hundreds of thousands of objects
    that live as long as the app) from Python's cyclic garbage collector. Why: a full collection walks every
    tracked object while holding the GIL, 300-400 ms with these libraries loaded on a busy 2-core machine, and
    when it runs in a worker (a training allocates a lot) the window freezes that long. Measured in tests/desktop."""
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    args, qt_args = build_parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    from ffd_desktop.startup_check import EXIT_NO_WINDOW, problem

    trouble = problem()               # before Qt loads its platform plugin, which would abort with a vaguer message
    if trouble:
        print(trouble, file=sys.stderr)
        return EXIT_NO_WINDOW
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from ffd_desktop import logfile

    logfile.install()                 # <data dir>/logs/ffd-desktop.log: error banners point there
    stop = _quit_on_signals()
    app = create_app(qt_args)

    from ffd_desktop.views.splash import Splash

    splash = Splash()
    splash.show()
    load_engine_libraries(lambda name: splash.message(f"Loading {name.split('.')[0]}…"))

    from ffd_desktop.controllers.main_controller import MainController

    controller = MainController(model_dir=args.model, preload=not args.no_preload)
    controller.window.show()
    splash.finish(controller.window)
    if args.files:
        controller.open_files(args.files)
    from PySide6.QtCore import QTimer

    heartbeat = QTimer()              # Python runs signal handlers only between bytecodes: wake it up now and then
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(250)
    code = 0 if stop.is_set() else app.exec()
    heartbeat.stop()
    controller.shutdown()             # saves the window layout, stops the worker threads
    return code


def _quit_on_signals():
    """Ctrl+C / SIGTERM end the app cleanly (layout saved, threads stopped), even while it is still starting."""
    import threading

    from PySide6.QtCore import QCoreApplication

    stop = threading.Event()

    def handler(*_):
        stop.set()
        if QCoreApplication.instance() is not None:
            QCoreApplication.instance().quit()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    return stop


if __name__ == "__main__":
    sys.exit(main())
