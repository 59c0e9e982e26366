"""FFD Desktop engine: media -> faces -> detectors -> results. Never imports Qt."""

__version__ = "0.1.0"
