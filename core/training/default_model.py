"""The recipe that builds the shipped default model (`make default-model`): three trainer runs and an assembly.

    1. backbone: the compact CLIP-style architecture (resources/model_configs/ffd-compact.json) trained from a random
       initialisation with the image-text contrastive loss on MFCLIP's hierarchical prompts (`--detector clip`);
    2. HAMLET-FFD on that frozen backbone;
    3. MFCLIP on that backbone (its image tower fine-tuned end to end);
    4. assembly: one model folder (backbone + both detectors as float16 safetensors, validation thresholds, the
       shared split) whose card holds the recipe, the data hash and every metric: the held-out test split (frame AUC
       per detector and for their mean), self-blended pseudo-fakes made from held-out real faces, and the
       FaceForensics++ clips, which are never used for training or model selection.

Every stage uses the same data, seed and fractions, so the three runs share one leak-free split (checked), and
the test split is only read after all training is done. The data are FFHQ reals and StyleGAN fakes plus
self-blended pseudo-fakes from the training reals. Each stage resumes where it stopped if interrupted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from core.atomic import atomic_path, atomic_write_text
from core.detectors.checkpoint import load_detector
from core.engine.device import describe_machine
from core.errors import ModelError
from core.models import ModelBundle, read_bundle, save_model
from core.paths import resources_dir
from core.training.trainer import TrainConfig, Trainer

ARCH = "ffd-compact"
SHARED = {"seed": 0, "sbi_copies": 1, "half_weights": True, "batch_size": 32}
STAGES = {
    "backbone": {"detector": "clip", "random_backbone": True, "epochs": 24, "lr": 3e-4, "patience": 6},
    # pool=2: 25 instead of 100 tokens per tapped level in the fusion transformer (inference speed)
    "hamlet": {"detector": "hamlet", "epochs": 8, "patience": 3, "detector_config": {"pool": 2}},
    "mfclip": {"detector": "mfclip", "epochs": 6, "patience": 3, "lr": 2e-4},
}
LIMITATIONS = [
    "Trained on still images only (FFHQ photographs vs StyleGAN v1 faces, 256 px JPEG, plus self-blended "
    "pseudo-fakes made from the real photographs); no video, no diffusion-generated faces, no compressed "
    "social-media copies were seen in training.",
    "A compact model trained from scratch on about 3,000 faces on a CPU: far weaker than the papers' ViT-L/14 "
    "configuration. Use the paper configuration (`ffd models import`, ViT-L-14 OpenAI weights) for casework.",
    "A score is the detector's probability that the face is forged, calibrated only in the sense that the "
    "threshold was chosen at the equal-error point on the validation split of this data; on other sources "
    "(other generators, heavy compression, other face swaps) scores shift and the threshold does not transfer.",
]


def stage_config(name: str, backbone: str | None, device: str = "auto", **overrides) -> TrainConfig:
    return TrainConfig(**{**SHARED, **STAGES[name], **overrides}, backbone=backbone, device=device)


def build(data: Path, work: Path, out: Path, ffpp: Path | None, device: str = "auto", log=print,
          arch: str = ARCH, cache_dir: Path | None = None, **overrides) -> dict:
    """Run the whole recipe; `arch` and `overrides` (TrainConfig fields for every stage) exist for quick checks."""
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    summaries = {}

    def run(name: str, backbone: str | None) -> dict:
        done = _finished_summary(work / name)
        if done is not None:  # a stage that completed in an earlier invocation is not trained again
            log(f"[{name}] already trained in {work / name}")
            summaries[name] = done
            return done
        log(f"[{name}] training in {work / name}")
        summary = Trainer(data, work / name, stage_config(name, backbone, device, **overrides),
                          progress=_printer(name, log), cache_dir=cache_dir).run()
        summaries[name] = summary
        return summary

    trained = run("backbone", arch)["backbone"]
    for name in ("hamlet", "mfclip"):
        run(name, trained)
    _check_same_split(work)
    bundle = assemble(work, out)
    card = {
        "recipe": {"command": "make default-model", "module": "core.training.default_model", "architecture": arch,
                   "shared": {**SHARED, **overrides}, "stages": STAGES, "epoch_seconds": _epoch_seconds(work),
                   "this_invocation_seconds": round(time.time() - started, 1),
                   "machine": describe_machine()},
        "training": read_bundle(work / "hamlet").card.get("training", {}),
        "validation": {name: {"best_val_auc": s["best_val_auc"], "epochs_run": s["epochs_run"]}
                       for name, s in summaries.items()},
        "limitations": LIMITATIONS,
    }
    card["training"].pop("hyperparameters", None)
    card["training"].pop("history", None)
    card["metrics"] = measure(data, out, ffpp, device, log, cache_dir)
    mean_auc = card["metrics"]["test_split"]["test"].get("mean", {}).get("frame_no_sbi", {}).get("auc")
    if mean_auc is not None:  # the name travels with every score (GUI, JSON, PDF): it carries the caveat too
        bundle.name = (f"FFD compact default (ffd-compact, trained from scratch; held-out AUC {mean_auc:.2f}: "
                       "a baseline, not for casework)")
    bundle.card = card
    bundle.save()
    atomic_write_text(out / "MODEL_CARD.md", model_card_markdown(bundle))
    log(f"default model written to {out}")
    return card


def assemble(work: Path, out: Path) -> ModelBundle:
    """One folder: the stage-1 backbone file (copied byte for byte) and both detectors' best epochs, float16."""
    from core.backbones import load_backbone

    runs = {name: read_bundle(work / name) for name in ("hamlet", "mfclip")}
    backbone = load_backbone(runs["hamlet"].backbone)
    detectors = {name: load_detector(run.checkpoint(name), backbone) for name, run in runs.items()}
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "split.json") as tmp:
        shutil.copyfile(work / "hamlet" / "split.json", tmp)
    return save_model(out, "FFD compact default (HAMLET-FFD + MFCLIP, ffd-compact)", backbone, detectors,
                      thresholds={name: run.threshold(name) for name, run in runs.items()}, half=True)


def measure(data: Path, model: Path, ffpp: Path | None, device: str, log=print,
            cache_dir: Path | None = None) -> dict:
    """Every reported number, computed on the assembled (float16) model as shipped."""
    from core.training.evaluate import evaluate

    log("[metrics] held-out test split (+ self-blended fakes from held-out reals)")
    test = evaluate(data, model, device=device, sbi_copies=1, cache_dir=cache_dir)
    metrics = {"test_split": _strip(test)}
    if ffpp is not None and ffpp.is_dir():
        log("[metrics] FaceForensics++ c23 clips (never used for training or selection)")
        metrics["ffpp_c23_videos"] = _strip(evaluate(ffpp, model, device=device, keep_scores=True,
                                                                 cache_dir=cache_dir))
    return metrics


def model_card_markdown(bundle: ModelBundle) -> str:
    card, lines = bundle.card, [f"# {bundle.name}", ""]
    sizes = {p.name: p.stat().st_size for p in bundle.root.glob("*.safetensors")}
    lines += [f"Backbone `{bundle.backbone.arch}` (sha256 `{bundle.backbone.sha256}`); detectors: "
              + ", ".join(f"{k} (threshold {v['threshold']:.3f})" for k, v in bundle.detectors.items()) + ".",
              f"Weights: {sum(sizes.values()) / 1e6:.1f} MB of float16 safetensors "
              f"({', '.join(f'{k} {v / 1e6:.1f} MB' for k, v in sorted(sizes.items()))}).", "",
              "## Data and provenance", "",
              f"- Training data: `{card['training'].get('data')}` (sha256 over files and labels "
              f"`{card['training'].get('data_sha256')}`): FFHQ real photographs vs StyleGAN v1 faces, plus one "
              "self-blended pseudo-fake per real face of each split (made within the split).",
              f"- Split (seed {SHARED['seed']}, by identity/video, shared by all stages, `split.json`): "
              f"{json.dumps(card['training'].get('split'))}", "",
              "## Recipe", "", f"`{card['recipe']['command']}` ({card['recipe']['module']}); training seconds per stage (sum of "
              f"epochs) on {card['recipe']['machine']}: {json.dumps(card['recipe']['epoch_seconds'])}.", "",
              "```json", json.dumps(card["recipe"]["stages"], indent=1), "```", "", "## Metrics", ""]
    test = card["metrics"]["test_split"]
    lines.append("| data | detector | real vs data fakes: frame AUC | real vs self-blended: AUC | video AUC |")
    lines.append("|---|---|---|---|---|")
    for name, result in test["test"].items():
        lines.append(f"| held-out test split | {name} | {result['frame_no_sbi']['auc']:.4f} | "
                     f"{result['sbi_frame']['auc']:.4f} | |")
    ffpp = card["metrics"].get("ffpp_c23_videos")
    if ffpp:
        for name, result in ffpp["test"].items():
            lines.append(f"| ffpp_c23_videos (7 clips, unseen) | {name} | {result['frame']['auc']:.4f} | | "
                         f"{result['video']['auc']:.4f} |")
        lines += ["", "Per-video scores (mean of frame scores):", ""]
        for name, result in ffpp["test"].items():
            scores = ", ".join(f"{Path(v).name} {s:.3f}" for v, s in result.get("video_scores", {}).items())
            lines.append(f"- {name}: {scores}")
    lines += ["", "## Limitations", ""] + [f"- {text}" for text in card["limitations"]]
    return "\n".join(lines) + "\n"


def _epoch_seconds(work: Path) -> dict[str, float]:
    """Training time per stage: the sum of its epochs' wall times (data preparation excluded)."""
    return {name: round(sum(h["seconds"] for h in read_bundle(work / name).card["training"]["history"]), 1)
            for name in STAGES}


def _finished_summary(run_dir: Path) -> dict | None:
    """The trainer's summary of a run that finished (its model card says so), else None."""
    try:
        card = read_bundle(run_dir).card
    except ModelError:  # no run there yet, or one that never saved a model
        return None
    return card.get("metrics") if card.get("training", {}).get("finished") else None


def _strip(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("scores", "model")}  # "model": where it was built


def _check_same_split(work: Path) -> None:
    splits = [json.loads((work / name / "split.json").read_text())["splits"] for name in STAGES]
    if any(s != splits[0] for s in splits[1:]):
        raise RuntimeError("the three stages did not train on the same split")


def _printer(stage: str, log):
    last = {"t": 0.0}

    def show(p) -> None:
        now = time.time()
        if p.stage == "validating" or p.stage == "done" or now - last["t"] > 60:
            last["t"] = now
            auc = "" if p.val_auc is None else f" val AUC {p.val_auc:.4f}"
            loss = "" if p.loss is None else f" loss {p.loss:.4f}"
            log(f"[{stage}] {p.stage} epoch {p.epoch}/{p.epochs} step {p.step}/{p.steps}{loss}{auc} {p.message}")

    return show


def main(argv: list[str] | None = None) -> int:
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=shared / "ffhq_stylegan")
    parser.add_argument("--ffpp", type=Path, default=shared / "ffpp_c23_videos")
    parser.add_argument("--work", type=Path, default=Path("build/default-model"))
    parser.add_argument("--out", type=Path, default=resources_dir() / "models" / "default")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache-dir", type=Path, help="face cache folder (default: the app's data folder)")
    args = parser.parse_args(argv)
    card = build(args.data, args.work, args.out, args.ffpp, args.device, cache_dir=args.cache_dir,
                 log=lambda m: print(time.strftime("%H:%M:%S"), m, flush=True))
    print(json.dumps(card["metrics"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
