"""HAMLET training: first epoch (frozen-backbone features computed and cached) vs the second (plugin only).

    python benchmarks/hamlet_epochs.py [--backbone ffd-compact] [--files 300] [--pool 2]

Trains two epochs with the real trainer on FFHQ / StyleGAN faces from ../shared/data and prints each epoch's wall
time (training + validation) and their ratio. Without --backbone the compact default architecture is used with
random weights: timing does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.engine.device import describe_machine  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ffhq_stylegan"))
    parser.add_argument("--backbone", default="ffd-compact")
    parser.add_argument("--files", type=int, default=300, help="files per label")
    parser.add_argument("--pool", type=int, default=2)
    args = parser.parse_args()

    from core.training.trainer import TrainConfig, Trainer

    random = "@" not in args.backbone and ":" not in args.backbone
    with tempfile.TemporaryDirectory(prefix="ffd-hamlet-epochs-") as tmp:
        config = TrainConfig(detector="hamlet", backbone=args.backbone, random_backbone=random, epochs=2,
                             patience=99, max_files=args.files, detector_config={"pool": args.pool})
        Trainer(args.data, Path(tmp) / "run", config, cache_dir=Path(tmp) / "faces").run()
        history = json.loads((Path(tmp) / "run" / "history.json").read_text())
    first, second = history[0]["seconds"], history[1]["seconds"]
    print(f"machine: {describe_machine()}")
    print(f"backbone {args.backbone}{' (random weights)' if random else ''}, pool {args.pool}, "
          f"{2 * args.files} files (train + validation)")
    print(f"epoch 1 (features computed): {first:.1f} s; epoch 2 (cached features): {second:.1f} s; "
          f"ratio {first / second:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
