"""Which model folder the app uses: `--model DIR`, else $FFD_MODEL, else core.models.default_model_dir().

Only model.json is read here (no torch), so the window can say at once whether analyses are possible.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelError
from core.models import ModelBundle, default_model_dir, read_bundle

ENV_VAR = "FFD_MODEL"

MISSING_MODEL_TEXT = (
    "No detection model is installed, so files cannot be analysed yet (saved cases can still be opened). "
    "To get one: choose a trained model folder (it contains model.json) in Settings > Models, or start the app "
    "with ffd-desktop --model DIR, or set the environment variable FFD_MODEL=DIR. A model folder is produced by "
    "`ffd train`, and `make default-model` rebuilds the default one shipped in resources/models/default."
)


@dataclass
class ModelChoice:
    path: Path | None
    source: str                        # "command line", "FFD_MODEL", "default", "settings" or "none"
    bundle: ModelBundle | None = None
    problem: str | None = None         # why it cannot be used, in words

    @property
    def usable(self) -> bool:
        return self.bundle is not None


def choose_model(cli_value: str | None = None, environ: dict | None = None) -> ModelChoice:
    env = os.environ if environ is None else environ
    if cli_value:
        return inspect(Path(cli_value), "command line")
    if env.get(ENV_VAR):
        return inspect(Path(env[ENV_VAR]), ENV_VAR)
    found = default_model_dir()
    if found is None:
        return ModelChoice(None, "none", problem=MISSING_MODEL_TEXT)
    return inspect(found, "default")


def inspect(path: Path, source: str) -> ModelChoice:
    try:
        bundle = read_bundle(path)
    except ModelError as exc:
        return ModelChoice(path, source, problem=f"The model folder from {source} cannot be used: {exc}. "
                                                 + MISSING_MODEL_TEXT.split(". ", 1)[1])
    except (OSError, KeyError, TypeError) as exc:
        return ModelChoice(path, source, problem=f"The model folder {path} ({source}) is unreadable: {exc}")
    return ModelChoice(path, source, bundle)
