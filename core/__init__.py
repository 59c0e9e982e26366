"""FFD Desktop engine: media -> faces -> detectors -> results. Never imports Qt."""

__version__ = "0.1.0"   # the one version: pyproject.toml, ffd --version, About, JSON results, PDF reports
