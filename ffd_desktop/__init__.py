"""FFD Desktop: the PySide6 app (views, controllers, workers) over the Qt-free engine in `core`."""
