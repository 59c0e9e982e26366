"""The default model's training data: one CSV manifest over the face sets in ../shared/data, with fixed splits.

Sources (each folder's SOURCE.txt says where it comes from):

- ``ffpp_faces``: FaceForensics++ face crops (real, Deepfakes, Face2Face, FaceSwap, NeuralTextures). The authors'
  train/test split is kept (``split`` column): their test crops are never trained on or used for selection;
  validation is carved out of their training part by ``core.training.splits``. The file names hide the source
  video, so crops of one scene (a fake and its target's real crops) are found by ``core.training.scenes`` and
  share a ``group``: validation never holds a face whose scene was trained on.
- ``ffhq_stylegan``: FFHQ photographs vs StyleGAN faces. Split exactly as the first default model split it
  (``split_samples`` of the folder, seed 0, 70/15/15), so both models are measured on the same 616 held-out files.
- ``sdfd_faces``: Stable Diffusion 2.1 portraits (fake only), split 70/15/15 by a hash of the file name.

``exclude`` drops methods from training and validation but keeps their test rows: the leave-one-method-out run
(FaceSwap) trains without ever seeing the method and is then scored on its held-out crops.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from pathlib import Path

from core.atomic import atomic_write_text
from core.errors import BadInputError
from core.training.dataset import read_manifest, scan_folder
from core.training.scenes import scene_groups
from core.training.splits import split_samples

COLUMNS = ("path", "label", "method", "split", "source", "group")
FFHQ_SEED, FFHQ_FRACTIONS = 0, (0.7, 0.15, 0.15)


def default_rows(shared: Path, exclude: tuple[str, ...] = ()) -> list[dict]:
    """Manifest rows (absolute paths) over the sources above; missing sources are an error naming the folder."""
    excluded = {m.lower() for m in exclude}
    rows: list[dict] = []
    ffpp = read_manifest(_folder(shared, "ffpp_faces") / "manifest.csv")
    for split in sorted({s.split for s in ffpp}, key=str):  # scenes are matched within the authors' split only
        part = [s for s in ffpp if s.split == split]
        for sample, scene in zip(part, scene_groups([s.path for s in part]), strict=True):
            rows.append(_row(sample.path, sample.label, sample.method, sample.split, "ffpp_faces",
                             group=f"ffpp-{split}-scene{scene}"))
    ffhq = scan_folder(_folder(shared, "ffhq_stylegan"))
    for name, samples in split_samples(ffhq, FFHQ_FRACTIONS, seed=FFHQ_SEED).items():
        for sample in samples:
            rows.append(_row(sample.path, sample.label, "stylegan" if sample.label else None, name, "ffhq_stylegan"))
    for sample in read_manifest(_folder(shared, "sdfd_faces") / "manifest.csv"):
        rows.append(_row(sample.path, sample.label, "stablediffusion", _hash_split(sample.path), "sdfd_faces"))
    return [r for r in rows if r["split"] == "test" or (r["method"] or "") not in excluded]


def write_manifest(shared: Path, out: Path, exclude: tuple[str, ...] = ()) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_rows(out, default_rows(shared, exclude))


def write_rows(out: Path, rows: Iterable[dict]) -> Path:
    """Manifest rows (COLUMNS) as a CSV file, written atomically: a training or evaluation reading a half-written
    manifest would silently see fewer faces. A subset of a manifest goes beside it, where its paths resolve."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out, buffer.getvalue())
    return out


def _folder(shared: Path, name: str) -> Path:
    folder = shared / name
    if not folder.is_dir():
        raise BadInputError(f"training data folder {name} is missing (see ../shared/data)", path=str(folder))
    return folder


def _row(path: str, label: int, method: str | None, split: str | None, source: str, group: str = "-") -> dict:
    return {"path": path, "label": "fake" if label else "real", "method": method or "-",
            "split": split or "-", "source": source, "group": group}


def _hash_split(path: str) -> str:
    bucket = int(hashlib.sha256(Path(path).name.encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 70 else "val" if bucket < 85 else "test"
