"""Ships the top-level resources/ folder as the package `ffd_resources`, so a wheel carries the model configs, the
default model and the fonts. pyproject.toml cannot rename a folder and discover packages at once, hence this file;
everything else lives in pyproject.toml. The data folders are listed as (namespace) packages so setuptools
installs them without warnings."""

from setuptools import find_namespace_packages, find_packages, setup

# towers/: finished towers the default-model recipe builds on, not part of the app
data_folders = [f"ffd_resources.{name}"
                for name in find_namespace_packages("resources", exclude=["__pycache__*", "towers*"])]
setup(
    packages=find_packages(include=["core", "core.*", "ffd_desktop", "ffd_desktop.*"]) + ["ffd_resources",
                                                                                          *data_folders],
    package_dir={"ffd_resources": "resources"},
)
