"""Installed as the package `ffd_resources` (see setup.py): shipped data found with importlib.resources."""
