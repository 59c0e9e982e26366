"""Labelled training/evaluation media: a ``Sample`` per file, from a folder layout or a CSV manifest.

Folder layout (``scan_folder``)::

    root/real/**/<media>            label 0 (any sub-folders; their names mean nothing)
    root/fake/<media>               label 1, method unknown
    root/fake/<method>/**/<media>   label 1, method = <method> lower-cased ("Deepfakes" -> "deepfakes")

Manifest (``read_manifest``): a CSV with a header; columns ``path`` (``file`` is accepted as an alias, as in the
shared data manifests), ``label`` (real/fake/0/1), and optional ``method``, ``generator``, ``identity``,
``group`` and ``split`` (train / val / test: a split fixed by the data's authors, which ``core.training.splits``
keeps: "test" rows are only ever tested on, "train" rows go to train or validation). Relative paths are relative to the CSV's folder. Empty cells and ``-`` mean "not given".

Which samples must stay together in one split (``grouping_keys``): the identity and group columns when given,
and FaceForensics++ naming for videos: a video named ``A`` (digits) shows identity A; a manipulated video named
``A_B`` (digits) shows target A with the face/expression of source B, so it belongs with ``A`` and ``B``.
Anything else is its own group. ``core.training.splits`` joins samples sharing any key.

Every problem surfaces as ``BadInputError`` naming the folder, file or CSV row.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.errors import BadInputError
from core.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

REAL, FAKE = 0, 1
LABEL_NAMES = {REAL: "real", FAKE: "fake"}
_LABELS = {"real": REAL, "0": REAL, "fake": FAKE, "1": FAKE}
_PATH_COLUMNS = ("path", "file")
_OPTIONAL_COLUMNS = ("method", "generator", "identity", "group", "split")
_EMPTY = {"", "-"}
_FFPP_REAL = re.compile(r"(\d+)")
_FFPP_FAKE = re.compile(r"(\d+)_(\d+)")


@dataclass(frozen=True)
class Sample:
    """One labelled media file. ``path`` is absolute (symlinks are not resolved: their names count)."""

    path: str
    label: int  # 0 real, 1 fake
    method: str | None = None  # manipulation method, lower-case ("deepfakes", "stylegan", "sbi"); None for reals
    generator: str | None = None  # generating model when known (e.g. "stylegan2")
    identity: str | None = None  # the person shown, when known
    group: str | None = None  # any key that must not be split (source video, shoot, ...)
    kind: str = "image"  # "image" | "video"
    split: str | None = None  # a split the data's authors fixed: "test" stays test, "train" never goes to test

    def __post_init__(self) -> None:
        if self.label not in (REAL, FAKE):
            raise ValueError(f"label must be 0 (real) or 1 (fake), got {self.label!r}")
        if self.kind not in ("image", "video"):
            raise ValueError(f"kind must be 'image' or 'video', got {self.kind!r}")
        if self.split not in (None, "train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {self.split!r}")

    @property
    def label_name(self) -> str:
        return LABEL_NAMES[self.label]

    def to_dict(self) -> dict:
        return asdict(self)


def media_kind(path: str | os.PathLike) -> str | None:
    """"image" / "video" from the extension, None for anything else."""
    ext = Path(path).suffix.lower()
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return None


def parse_label(value: object) -> int:
    """0 / 1 from "real" / "fake" / "0" / "1" (any case) or the ints; ValueError otherwise."""
    key = str(value).strip().lower()
    if key not in _LABELS:
        raise ValueError(f"unknown label {value!r} (expected real, fake, 0 or 1)")
    return _LABELS[key]


def grouping_keys(sample: Sample) -> frozenset[str]:
    """Keys that tie ``sample`` to others: any two samples sharing a key must land in the same split."""
    keys: set[str] = set()
    if sample.identity:
        keys.add(f"identity:{sample.identity}")
    if sample.group:
        keys.add(f"group:{sample.group}")
    if sample.kind == "video":
        stem = Path(sample.path).stem
        if m := _FFPP_FAKE.fullmatch(stem):
            keys.update({f"identity:{m.group(1)}", f"identity:{m.group(2)}"})
        elif _FFPP_REAL.fullmatch(stem):
            keys.add(f"identity:{stem}")
    if not keys:
        keys.add(f"file:{sample.path}")
    return frozenset(keys)


# ------------------------------------------------------------------------------------------------- folders


def _subdir(root: Path, name: str) -> Path | None:
    """root/<name>, matched case-insensitively (Real/, FAKE/ ...)."""
    exact = root / name
    if exact.is_dir():
        return exact
    for child in root.iterdir():
        if child.name.lower() == name and child.is_dir():
            return child
    return None


def _media_files(folder: Path) -> list[Path]:
    """Media files at any depth (symlinks followed, hidden entries skipped), sorted for determinism."""
    found: list[Path] = []
    visited: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in visited:  # a symlink cycle (or two links to one folder): walk each folder once
            dirnames[:] = []
            continue
        visited.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and media_kind(name) is not None:
                found.append(Path(dirpath) / name)
    return found


def scan_folder(root: str | os.PathLike) -> list[Sample]:
    """Samples of a ``real/`` + ``fake/`` folder (see module docstring), sorted by path."""
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise BadInputError("dataset folder does not exist or is not a folder", path=str(root))
    folders = {name: _subdir(root, name) for name in ("real", "fake")}
    missing = [name for name, folder in folders.items() if folder is None]
    if missing:
        raise BadInputError(
            f"dataset folder has no {' and no '.join(m + '/' for m in missing)} sub-folder "
            "(expected real/ and fake/, with fakes optionally in fake/<method>/)",
            path=str(root),
        )
    samples: list[Sample] = []
    for file in _media_files(folders["real"]):
        samples.append(Sample(str(file), REAL, kind=media_kind(file)))
    fake_root = folders["fake"]
    for file in _media_files(fake_root):
        parts = file.relative_to(fake_root).parts
        method = parts[0].lower() if len(parts) > 1 else None
        samples.append(Sample(str(file), FAKE, method=method, kind=media_kind(file)))
    if not samples:
        raise BadInputError("dataset folder holds no image or video files under real/ or fake/", path=str(root))
    return sorted(samples, key=lambda s: s.path)


# ------------------------------------------------------------------------------------------------ manifests


def read_manifest(csv_path: str | os.PathLike) -> list[Sample]:
    """Samples listed in a CSV manifest (see module docstring), in file order.

    Raises BadInputError naming the CSV and row for: a missing path/label column, an unknown label, a path
    that is empty, not a media file, missing, or listed twice.
    """
    csv_path = Path(os.path.abspath(csv_path))
    where = str(csv_path)
    try:
        fh = open(csv_path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise BadInputError("manifest does not exist", path=where) from None
    except IsADirectoryError:
        raise BadInputError("manifest is a folder, not a CSV file", path=where) from None
    except OSError as exc:
        raise BadInputError(f"cannot read the manifest ({exc.strerror or exc})", path=where) from None
    with fh:
        try:
            reader = csv.DictReader(fh)
            header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            path_col = next((c for c in _PATH_COLUMNS if c in header), None)
            if path_col is None or "label" not in header:
                raise BadInputError(
                    "manifest needs a header with 'path' (or 'file') and 'label' columns; found "
                    f"{', '.join(h for h in header if h) or 'no header'}",
                    path=where,
                )
            samples: list[Sample] = []
            seen: dict[str, int] = {}
            for row in reader:
                line = reader.line_num
                if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                    continue  # blank line
                samples.append(_row_sample(row, path_col, csv_path.parent, where, line, seen))
        except csv.Error as exc:
            raise BadInputError(f"malformed CSV near line {reader.line_num}: {exc}", path=where) from None
        except UnicodeDecodeError:
            raise BadInputError("manifest is not UTF-8 text", path=where) from None
    if not samples:
        raise BadInputError("manifest lists no samples", path=where)
    return samples


def _cell(row: dict, column: str) -> str | None:
    value = row.get(column)
    value = value.strip() if isinstance(value, str) else None
    return None if value is None or value in _EMPTY else value


def _row_sample(row: dict, path_col: str, base: Path, where: str, line: int, seen: dict[str, int]) -> Sample:
    def bad(message: str) -> BadInputError:
        return BadInputError(f"row {line}: {message}", path=where)

    raw_path = _cell(row, path_col)
    if raw_path is None:
        raise bad(f"empty '{path_col}'")
    raw_label = _cell(row, "label")
    try:
        label = parse_label(raw_label if raw_label is not None else "")
    except ValueError as exc:
        raise bad(str(exc)) from None
    path = os.path.expanduser(raw_path)    # os.path, not pathlib: a 10,000-row manifest is read at every stage
    path = os.path.abspath(path if os.path.isabs(path) else os.path.join(base, path))
    kind = media_kind(path)
    if kind is None:
        raise bad(f"{raw_path!r} is not an image or video file name (unknown extension)")
    if not os.path.isfile(path):
        raise bad(f"file {raw_path!r} does not exist ({path})")
    key = os.path.normcase(path)
    if key in seen:
        raise bad(f"{raw_path!r} is listed twice (first on row {seen[key]})")
    seen[key] = line
    opt = {c: _cell(row, c) for c in _OPTIONAL_COLUMNS}
    method = opt["method"].lower() if opt["method"] and label == FAKE else None
    split = opt["split"].lower() if opt["split"] else None
    if split not in (None, "train", "val", "test"):
        raise bad(f"split must be train, val or test, got {opt['split']!r}")
    return Sample(path, label, method=method, generator=opt["generator"], identity=opt["identity"],
                  group=opt["group"], kind=kind, split=split)


def load_samples(data: str | Path, max_files: int | None = None, seed: int = 0) -> tuple[list[Sample], Path]:
    """Samples from a folder with real/ and fake/, or from a CSV manifest."""
    data = Path(data)
    if data.is_file() and data.suffix.lower() == ".csv":
        samples, root = read_manifest(data), data.parent
    elif data.is_dir():
        samples, root = scan_folder(data), data
    else:
        raise BadInputError("not a data folder (with real/ and fake/) nor a CSV manifest", path=str(data))
    if max_files:
        rng = np.random.default_rng(seed)
        picked = []
        for label in (0, 1):
            group = [s for s in samples if s.label == label]
            idx = sorted(rng.permutation(len(group))[:max_files])
            picked += [group[i] for i in idx]
        samples = picked
    if not any(s.label == 0 for s in samples) or not any(s.label == 1 for s in samples):
        raise BadInputError("training needs both real and fake samples", path=str(data))
    return samples, root
