"""Does a model read blur as forgery? Test AUC of one method against the real test faces, with one class blurred.

    python benchmarks/blur_sensitivity.py --model build/fs-out-model --work build/fs-out [--method faceswap]

Why: a model that never saw FaceSwap scores it as more real than real (AUC 0.41). If that is "blurry = fake",
blurring the method's fakes raises their AUC and blurring the real faces lowers it. Blurred faces are written to a
temporary folder as JPEG quality 95 (the crops' own quality) and scored like the recipe's test faces; the originals
are only read. The model is scored without its split (a copy without split.json), as the blurred files are new.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
from pathlib import Path

import cv2

from core.training.default_data import write_rows
from core.training.evaluate import evaluate


def blurred_manifest(rows: list[dict], blur_label: str, sigma: float, folder: Path) -> Path:
    """The rows with the faces of `blur_label` replaced by Gaussian-blurred copies (sigma in pixels)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for row in rows:
        if sigma > 0 and row["label"] == blur_label:
            source = Path(row["path"])
            copy = folder / f"{source.parent.name}_{source.name}"
            image = cv2.GaussianBlur(cv2.imread(str(source)), (0, 0), sigma)
            cv2.imwrite(str(copy), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            row = {**row, "path": str(copy)}
        out.append(row)
    return write_rows(folder / "data.csv", out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="an assembled model folder")
    parser.add_argument("--work", type=Path, required=True, help="its work folder (holds eval_ffpp_faces.csv)")
    parser.add_argument("--method", default="faceswap")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.7, 1.2], help="Gaussian blurs, in pixels")
    args = parser.parse_args()
    rows = [r for r in csv.DictReader((args.work / "eval_ffpp_faces.csv").open(encoding="utf-8"))
            if r["label"] == "real" or r["method"] == args.method]
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        shutil.copytree(args.model, model)
        (model / "split.json").unlink(missing_ok=True)
        print(f"{args.method} test fakes vs real test faces; frame AUC per detector")
        runs = [("faces as stored", "real", 0.0)]
        runs += [(f"{label} faces blurred, sigma {sigma:.1f}", label, sigma)
                 for label in ("fake", "real") for sigma in args.sigmas if sigma > 0]
        for title, label, sigma in runs:
            manifest = blurred_manifest(rows, label, sigma, Path(tmp) / f"{label}-{sigma}")
            result = evaluate(manifest, model, aligned=True)["test"]
            aucs = ", ".join(f"{name} {r['frame']['auc']:.3f}" for name, r in result.items())
            print(f"{title}: {aucs}", flush=True)


if __name__ == "__main__":
    main()
