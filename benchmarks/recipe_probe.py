"""A few epochs of one default-model recipe stage on the recipe's data: is there a training signal at all?

    python benchmarks/recipe_probe.py STAGE EPOCHS [--augment | --no-augment] [--out DIR]

STAGE is `backbone` (stage 1 of `core.training.default_model`, from random weights) or `baseline` (the plain CNN);
the recipe's settings are used (data manifest, split fractions, seed, learning rate, loss), only the epochs and the
augmentation change. Prints the validation AUC of each epoch and the wall time: for choosing a recipe, so it shows
no test figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from core.engine.device import describe_machine
    from core.training.default_data import write_manifest
    from core.training.default_model import ARCH, stage_config
    from core.training.trainer import Trainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage")
    parser.add_argument("epochs", type=int)
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "probe")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "build" / "facecache")
    args = parser.parse_args()
    data = write_manifest(args.shared, args.out / "data.csv")
    config = stage_config(args.stage, ARCH, epochs=args.epochs, augment=args.augment, patience=args.epochs)
    started = time.time()
    print(f"# {describe_machine()}; stage {args.stage}, augment {args.augment}", flush=True)

    def show(p) -> None:
        if p.stage == "validating":
            print(f"epoch {p.epoch} loss {p.loss:.4f} val AUC {p.val_auc:.4f} {time.time() - started:.0f} s",
                  flush=True)

    Trainer(data, args.out / args.stage, config, progress=show, cache_dir=args.cache_dir).run(resume=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
