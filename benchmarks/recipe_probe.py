"""A few epochs of one default-model recipe stage on the recipe's data: is there a training signal at all?

    python benchmarks/recipe_probe.py STAGE EPOCHS [--augment | --no-augment] [--exclude METHOD ...]
                                      [--set KEY=JSON ...] [--out DIR]

STAGE is `backbone` (stage 1 of `core.training.default_model`, from random weights) or `baseline` (the plain CNN);
the recipe's settings are used (data manifest, split fractions, seed, learning rate, loss), only the epochs, the
augmentation and any `--set` TrainConfig field change (e.g. `--set 'augment={"p_quality": 0.5}'`). Prints the
validation AUC of each epoch and the wall time. With `--exclude`, the left-out methods never reach training or
validation and each one's AUC against the real test crops is printed too: the one test figure a recipe may be
chosen by (issue 11), since the model never saw the method. No other test figure is shown.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def left_out_aucs(data: Path, run: Path, methods: list[str], cache_dir: Path) -> dict[str, float]:
    """Frame AUC of each left-out method's FF++ test crops against the real FF++ test crops."""
    from core.training.default_data import write_rows
    from core.training.evaluate import evaluate

    rows = [r for r in csv.DictReader(data.open(encoding="utf-8"))
            if r["split"] == "test" and r["source"] == "ffpp_faces"]
    aucs = {}
    for method in methods:
        subset = write_rows(run.parent / f"left_out_{method}.csv",   # beside data.csv: same relative paths
                            (r for r in rows if r["label"] == "real" or r["method"] == method))
        result = evaluate(subset, run, aligned=True, cache_dir=cache_dir)
        aucs[method] = {name: round(r["frame"]["auc"], 4) for name, r in result["test"].items()}
    return aucs


def main() -> int:
    from core.engine.device import describe_machine
    from core.training.default_data import write_manifest
    from core.training.default_model import ARCH, parse_overrides, stage_config
    from core.training.trainer import Trainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage")
    parser.add_argument("epochs", type=int)
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--exclude", action="append", default=[], help="leave a method out (e.g. faceswap)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a TrainConfig field")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "probe")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "build" / "facecache")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    if "crop_jpeg" in overrides:
        overrides["crop_jpeg"] = tuple(overrides["crop_jpeg"]) if overrides["crop_jpeg"] else None
    excluded = [m.lower() for m in args.exclude]
    data = write_manifest(args.shared, args.out / "data.csv", tuple(excluded))
    config = stage_config(args.stage, ARCH, epochs=args.epochs, patience=args.epochs,
                          **{"augment": args.augment, **overrides})
    started = time.time()
    print(f"# {describe_machine()}; stage {args.stage}, excluded {excluded or 'none'}, "
          f"overrides {json.dumps({'augment': args.augment, **overrides})}", flush=True)

    def show(p) -> None:
        if p.stage == "validating":
            print(f"epoch {p.epoch} loss {p.loss:.4f} val AUC {p.val_auc:.4f} {time.time() - started:.0f} s",
                  flush=True)

    run = args.out / args.stage
    Trainer(data, run, config, progress=show, cache_dir=args.cache_dir).run(resume=False)
    if excluded:
        print(f"left-out test AUC (vs real FF++ test crops): {json.dumps(left_out_aucs(data, run, excluded, args.cache_dir))}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
