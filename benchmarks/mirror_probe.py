"""Would averaging each face's score with its mirror image's help a model? Measured on the validation split only.

    python benchmarks/mirror_probe.py [MODEL_DIR] [--shared ../shared/data] [--cache-dir build/facecache]

Each detector's validation AUC is printed with the model's `mirror` setting off and on (model.json; each face
scored as it is and as its left-right mirror image, the two fake probabilities averaged:
`core.detectors.base.score_faces`), on the recipe's validation faces (FFHQ reals, StyleGAN and SDFD fakes) plus one
self-blend per real face, as `make default-model` validates. Test faces are never scored: a test-time choice is made
on validation, like any other.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from core.engine.device import describe_machine
    from core.models import read_bundle
    from core.training.default_data import default_rows, write_rows
    from core.training.evaluate import evaluate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, nargs="?", default=ROOT / "resources" / "models" / "default")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "build" / "facecache")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ffd-mirror-"))
    write_rows(work / "val.csv", (r for r in default_rows(args.shared) if r["split"] == "val"))
    model = work / "model"      # without split.json, evaluate() scores every face it is given: the validation ones
    shutil.copytree(args.model, model, ignore=shutil.ignore_patterns("split.json"))
    print(f"# {describe_machine()}; {args.model}; validation split only", flush=True)
    bundle = read_bundle(model)
    for mirror in (False, True):
        bundle.mirror = mirror
        bundle.save()
        result = evaluate(work / "val.csv", model, aligned=True, sbi_copies=1, cache_dir=args.cache_dir)
        for name, m in result["test"].items():
            methods = " ".join(f"{k} {v['auc']:.4f}" for k, v in m["methods"].items())
            print(f"mirror={'on ' if mirror else 'off'} {name:7s} val AUC {m['frame']['auc']:.4f}  ({methods})",
                  flush=True)
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
