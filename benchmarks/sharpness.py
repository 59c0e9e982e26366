"""How sharp each FaceForensics++ class is: the median Laplacian variance of the face centre, per method and split.

    python benchmarks/sharpness.py [--data ../shared/data/ffpp_faces]

Why: a detector trained from scratch can learn "blurry = fake" (Deepfakes' decoder output is soft); a method whose
faces are sharper than the real ones then scores as more real than real when it was never trained on. The centre
(the middle half of the crop) is the face itself, not the background the swap leaves untouched.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from collections import defaultdict
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]


def centre_sharpness(path: Path) -> float:
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise SystemExit(f"cannot read {path}")
    h, w = grey.shape
    centre = grey[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
    return float(cv2.Laplacian(centre, cv2.CV_64F).var())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ffpp_faces")
    args = parser.parse_args()
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    with (args.data / "manifest.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            method = row["method"] if row["label"] == "fake" else "real"
            values[(row["split"], method)].append(centre_sharpness(args.data / row["file"]))
    print("split  class            n  median Laplacian variance (face centre)")
    for (split, method), v in sorted(values.items()):
        print(f"{split:6} {method:15} {len(v):4d}  {statistics.median(v):7.1f}")


if __name__ == "__main__":
    main()
