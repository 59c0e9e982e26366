"""How fast the face cache stores and reads back aligned faces (the figures in core/training/facecache.py).

    python benchmarks/facecache_speed.py [--shared ../shared/data] [--files 600]

Builds a fresh cache of the first FFHQ / StyleGAN face files in a temporary folder (``assume_aligned``: no face
detection, so the time is decoding, cropping and storing), reads every entry back with a new FaceCache, and prints
milliseconds per face for both and the size of the stored crops.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from core.training.dataset import media_kind
    from core.training.facecache import FaceCache

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--files", type=int, default=600)
    args = parser.parse_args()
    folder = args.shared / "ffhq_stylegan"
    files = sorted(p for p in folder.rglob("*") if media_kind(p) == "image")[:args.files]
    if not files:
        sys.exit(f"no face images under {folder}")
    with tempfile.TemporaryDirectory(prefix="ffd-facecache-") as cache_dir:
        with FaceCache(cache_dir, assume_aligned=True) as cache:
            build = cache.build(files)
        started = time.perf_counter()
        with FaceCache(cache_dir, assume_aligned=True) as cache:
            for f in files:
                cache.crops(f)
        read_s = time.perf_counter() - started
        stored = sum(p.stat().st_size for p in Path(cache_dir).rglob("*.npz"))
    n = len(files)
    print(f"{n} faces: build {build.seconds / n * 1000:.1f} ms/face, read {read_s / n * 1000:.1f} ms/face, "
          f"crops on disk {stored / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
