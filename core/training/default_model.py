"""The recipe that builds the shipped default model (`make default-model`): three trainer runs and an assembly.

    1. backbone: the compact CLIP architecture with a block-DCT stem (resources/model_configs/ffd-dct.json and
       stems/ffd-dct.json) trained from a random initialisation on MFCLIP's hierarchical prompts plus a linear
       real/fake probe (`--detector clip`); refine: the same training continued from that tower (a warm restart);
    2. HAMLET-FFD on that frozen backbone;
    3. MFCLIP on that backbone (its image tower frozen, its SRM noise branch and fusion trained);
    4. assembly: one model folder (backbone + both detectors as float16 safetensors, validation thresholds, the
       shared split) whose card holds the recipe, the data hash and every metric, measured on held-out test faces
       only (FaceForensics++'s own test crops per method, FFHQ/StyleGAN, SDFD, self-blended fakes of held-out reals).

Data (`core.training.default_data`): FaceForensics++ c23 crops, FFHQ vs StyleGAN, Stable Diffusion portraits and one
self-blended pseudo-fake per real face. Every stage uses the same manifest, seed and fractions, so the runs share one
leak-free split (checked); batches keep a scene's real and fake crops together (`paired_batches`), and training
faces get light augmentation every epoch. The plain CNN baseline trains on the same data with at least the tower's
budget. Each stage resumes where it stopped if interrupted; a finished stage is never trained again.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from dataclasses import fields
from pathlib import Path

from core.atomic import atomic_path, atomic_write_text
from core.backbones import BackboneSpec
from core.detectors.checkpoint import load_detector
from core.digest import cached_sha256
from core.engine.device import describe_machine
from core.errors import BadInputError, FFDError, ModelError
from core.models import ModelBundle, read_bundle, save_model
from core.paths import resources_dir
from core.training.default_data import write_manifest, write_rows
from core.training.resize import resize_tower
from core.training.soup import average_towers
from core.training.trainer import TRAINED_BACKBONE, TrainConfig, Trainer

ARCH = "ffd-dct"
# FaceForensics++ crops are tight Haar boxes: MediaPipe's box covers 94 % of their side (median over 42 crops),
# so the analysis cuts faces at about that tightness for this model, not at DeepfakeBench's 1.3.
CROP_MARGIN = 1.1
# ...and they are 299 px JPEG files of quality 95 (their quantisation tables, 4:2:0), as are the FFHQ/StyleGAN faces.
# The model reads compression traces, so the analysis stores each crop the same way before scoring: measured on the
# real FF++ clips 004 / 634, HAMLET scored 0.99 / 0.90 without this step and 0.57 / 0.64 with it.
CROP_JPEG = {"side": 299, "quality": 95}
CASEWORK_AUC = 0.95   # below this on FF++ test faces for either detector, the name says "not for casework"
TRAINED_STAGES = ("hamlet", "mfclip")
# aligned: every source is a set of face crops already; fractions: validation is carved out of the data's
# training parts (its test parts are pinned by the manifest), about 12 % of all faces.
# No crop_jpeg / crop_fit here: v2's settings (v4 = v2 + a 32-epoch stage 1), still the best full builds. Stage-1 probes
# (`benchmarks/recipe_probe.py backbone 4 --exclude faceswap`; validation AUC at epoch 4 / FaceSwap-left-out
# test AUC): v2's settings (raw self-blends, faces resized) - / 0.381, over 8 epochs 0.777 / 0.397; crop_jpeg
# (self-blends stored as JPEG) with blends stored at one global setting 0.729 / 0.400, + crop_fit "centre"
# (the middle 192 px of the stored face, unresized) 0.785 / 0.433 (validation inflated by a JPEG grid only
# FFHQ blends carried); blends stored as their own file was (core.training.jpeg_source) + centre 0.666 /
# 0.427, + crop_jitter 48 0.654 / 0.401; crop_jpeg + sbi_fresh 0.699 / 0.390; sharpness matching (augment
# p_sharpness 0.8) 0.562 / 0.405; self-blends with the paper's frequency jitter (downscale or sharpen, no
# blur; 2026-12-05) 0.681 / 0.403.
# Full builds with crop_jpeg + centre (test figures HAMLET / MFCLIP; v2: FF++ 0.70 / 0.71, FFHQ/StyleGAN 0.716 / 0.725,
# SDFD 0.99 / 0.98, stored self-blends FF++ 0.63 / 0.66, FFHQ 0.75 / 0.74):
#   v3b, blends at one global setting (2026-12-03): FF++ 0.59 / 0.65, FFHQ/StyleGAN 0.61 / 0.62, SDFD 0.40 / 0.67,
#   FFHQ self-blends 1.00 (its blends carried a 299 px JPEG grid their 256 px real faces lacked);
#   v3c, blends stored as their file was (2026-12-04, 41 min of training): FF++ 0.66 / 0.66 (Deepfakes 0.82,
#   Face2Face 0.59, FaceSwap 0.64 / 0.66, NeuralTextures 0.56), FFHQ/StyleGAN 0.61 / 0.64, SDFD 0.95 / 0.85, but
#   stored self-blends FF++ 0.84 / 0.84 and FFHQ 0.94 / 0.93. Honest blends are learnt, and they pull the tower to
#   blend boundaries: Deepfakes rises, reenactment (Face2Face, NeuralTextures) and GAN faces fall.
# mirror (since v16m): every score averages the face and its mirror image; chosen on validation (v16 validation AUC
# 0.912 / 0.913 -> 0.924 / 0.923, v8 +0.003 / +0.005: `benchmarks/mirror_probe.py`), never on a test split.
SHARED = {"seed": 0, "sbi_copies": 1, "half_weights": True, "batch_size": 32, "aligned": True,
          "fractions": (0.78, 0.12, 0.10), "augment": True, "paired_batches": True, "mirror": True}
STAGES = {
    # stage 1: the whole CLIP image tower from random weights (text tower frozen, its logit scale trained)
    # (plus a linear real/fake head on the image embedding: see core.detectors.clip_prompts)
    # 32 epochs: over 12 (v2, v3c) the training loss still matched the validation loss and validation AUC still
    # rose (v3c: 0.729 / 0.720 / 0.753 / 0.755 / 0.759 in epochs 8-12): the tower underfits, it does not memorise.
    # On an H200 (scripts/gpu_default_model.sh, 2026-12-04; 10 s per epoch after 3.5 min of face extraction on one
    # core) this schedule's validation AUC was 0.63 / 0.65 / 0.63 / 0.68 / 0.66 / 0.77 / 0.76 / 0.79 / 0.76 / 0.70 /
    # 0.76 / 0.74 / 0.78 / 0.83 / 0.83 / 0.81 / 0.85 / 0.86 in epochs 1-18, when the lease's time ran out.
    "backbone": {"detector": "clip", "random_backbone": True, "epochs": 32, "lr": 1e-3, "weight_decay": 0.05,
                 "patience": 6, "detector_config": {"probe_weight": 1.0}},
    # stage 1b: the same training continued from stage 1's tower, a warm restart of the cosine schedule at a third
    # of its peak rate (validation AUC was still 0.89-0.90 in epochs 24-32 of stage 1, where the rate had decayed
    # towards zero: the tower still underfits). A separate stage so that a machine holding only the shipped
    # backbone file can continue from it (`--from-backbone`). v5 (2026-12-04, from v4's tower, 41 min on 2 CPU
    # cores): validation AUC 0.897 / 0.890 / 0.878 / 0.904 / 0.897 / 0.902 / 0.895 / 0.906 / 0.911 / 0.908 / 0.915 /
    # 0.905 / 0.916 / 0.917 / 0.917 / 0.916 / 0.916 / 0.918 / 0.918 / 0.916 in epochs 1-20; FF++ test 0.780 -> 0.805.
    # v6 (the same stage again, from v5's tower, 40 min): 0.914 / 0.907 / 0.898 / 0.917 / 0.900 / 0.907 / 0.898 /
    # 0.917 / 0.920 / 0.916 / 0.918 / 0.915 / 0.921 / 0.922 / 0.920 / 0.920 / 0.919 / 0.922 / 0.923 / 0.921, training
    # loss 1.04 -> 0.91; FF++ test 0.805 -> 0.817.
    # v7 candidate (2026-12-05, from v6's tower, + sbi_fresh and the paper's self-blend jitter, 47 min): validation AUC
    # 0.915 -> 0.930 (epoch 15); FF++ test 0.817 / 0.817 -> 0.825 / 0.821, Face2Face, FaceSwap and FF++ self-blends
    # up, but Deepfakes 0.835 / 0.829 -> 0.822 / 0.817 and NeuralTextures down: not shipped (the README has all).
    # v8 (shipped, 2026-12-05): the weight average of v6's and v7's towers (`--soup`, core.training.soup) with the
    # detectors trained on it; face by face against v6 (`--compare`) FaceSwap and Face2Face higher beyond the test
    # set's noise, no figure lower beyond it.
    # v10 candidate (2026-12-05, not committed): v8's tower re-gridded to 256 px (`--arch ffd-dct-256`) and
    # refined 8 epochs there (--set epochs=8; 80 min: the tower costs 1.7x a 192 px one, an epoch took 4x as long
    # with fresh self-blends): validation AUC 0.863 / 0.891 / 0.901 / 0.918 / 0.924 / 0.928 / 0.925 / 0.928, HAMLET-FFD
    # on it 0.929 (v8 0.931). Its HAMLET-FFD test figures trade methods: Deepfakes 0.88, Face2Face 0.93 up, FaceSwap
    # 0.82, NeuralTextures 0.68, StyleGAN 0.867 down; self-blends 0.999 / 0.976 (v8 0.715 / 0.773), more likely
    # the blend pipeline's resampling and re-compression surviving the milder 299 -> 256 resize than blending
    # itself. Not shipped; MFCLIP was not trained on it.
    # v9 candidate (2026-12-06, not committed): v8's tower refined 20 epochs with sbi_fresh (validation AUC 0.929,
    # epoch 14), souped with v8's tower, detectors on the soup. Face by face against v8: MFCLIP FaceSwap and FFHQ
    # self-blends better beyond noise, nothing worse; HAMLET-FFD Deepfakes -0.012 and SDFD -0.016 beyond noise.
    # Not shipped; FF++ pooled +0.001 / +0.002: a third refine-and-soup cycle adds nothing measurable.
    # v12 candidate (2026-12-06, not shipped): v8's tower refined 20 epochs on faces stored as an analysis stores them
    # (--set 'crop_jpeg=[299, 95]' sbi_fresh; 106 min): test self-blends 0.90 / 0.90 and 0.93 / 0.94 (v8 0.72 / 0.71,
    # 0.77 / 0.76), FF++ pooled 0.837 / 0.841, but MFCLIP's SDFD 0.988 -> 0.962 beyond noise (README).
    # v13 candidate (2026-12-07, not shipped): the soup of v8's tower and v12's
    # (resources/towers/v12-refine.safetensors), detectors on it: Deepfakes +0.03 and self-blends +0.13 to +0.15
    # beyond noise, MFCLIP's FF++ pooled +0.013, but MFCLIP's SDFD 0.988 -> 0.979 (-0.009 [-0.022, -0.001]) beyond
    # noise (README).
    # v14 (shipped 2026-12-07): v13's tower with both detectors trained on it while the 129 Stable Diffusion training
    # portraits are seen 6 times per epoch (--set 'oversample={"stablediffusion": 6}': about one FF++ method's
    # weight): against v8, Deepfakes, both self-blend figures and MFCLIP's FF++ pooled higher beyond noise, SDFD
    # -0.008 / -0.004 within it, nothing lower beyond it (README).
    # v16 (shipped, 2026-12-08): the soup of v14's tower and v15's (v14's refined 20 epochs with the same oversampling,
    # resources/towers/v15-refine.safetensors), detectors as for v14: against v14, 12 of 18 figures higher beyond
    # noise (FF++ pooled 0.842 / 0.843), nothing lower beyond it (README).
    # v16m (shipped, 2026-12-08): v16's tower (--tower) with `mirror` scoring, detectors trained again: against v16,
    # FF++ pooled 0.850 / 0.850, Deepfakes, StyleGAN and FFHQ self-blends higher beyond noise, SDFD -0.014 / -0.007
    # within it (README).
    "refine": {"detector": "clip", "epochs": 20, "lr": 3e-4, "weight_decay": 0.05, "patience": 6,
               "detector_config": {"probe_weight": 1.0}},
    # pool=1: ffd-dct's 32 px patches give 36 tokens per tapped level already. 4 epochs: on the frozen 8-epoch
    # tower validation AUC was 0.781 / 0.760 / 0.781 / 0.781 in epochs 1-4 (the plugin learns fast, the tower limits)
    "hamlet": {"detector": "hamlet", "epochs": 4, "patience": 2, "detector_config": {"pool": 1}},
    # image encoder = the stage-1 tower, frozen: MFCLIP adds its SRM noise branch, text alignment and head on top
    # (fine-tuning the tower too would double the CPU budget of this stage)
    # v11 candidate (2026-12-06, not shipped): this stage with noise_input_size 256 (the noise branch on 256 px crops,
    # the tower on them shrunk to 192 px) on v8's tower: validation AUC 0.921 / 0.921 / 0.924 / 0.925 (v8's MFCLIP
    # 0.930). Face by face against v8 (test): Deepfakes +0.032, NeuralTextures +0.034, FFHQ/StyleGAN only +0.004;
    # FaceSwap -0.034, FF++ self-blends -0.047, FFHQ self-blends -0.023 beyond noise. v8 itself with its faces passed
    # through 256 px (299 -> 256 -> 192, the trainer cache's path; 299 -> 192 is the analysis's) moved the same way:
    # the shift is the resampling path's, the full-resolution noise branch added little.
    "mfclip": {"detector": "mfclip", "epochs": 4, "patience": 2, "lr": 3e-4,
               "detector_config": {"freeze_image_encoder": True}},
}
# The plain CNN the CLIP detectors must beat: same data, augmentation and early stopping as stage 1, and a budget of
# 100 epochs, more than any tower the recipe has trained (stage 1's 32 plus 20 per refine, chained refines
# included: v6's tower had 72). Early stopping ends it well before (v6's baseline: best epoch 5, stopped at 11).
BASELINE = {"detector": "cnn", "random_backbone": True, "epochs": 100, "lr": 1e-3,
            "weight_decay": 0.05, "patience": STAGES["backbone"]["patience"]}
LIMITATIONS = [
    "Trained from scratch on a CPU on about 9,000 face crops: FaceForensics++ c23 crops (Deepfakes, Face2Face, "
    "FaceSwap, NeuralTextures; one crop per video), FFHQ photographs vs StyleGAN v1 faces, 140 Stable Diffusion "
    "portraits, and one self-blended pseudo-fake per real face. Far weaker than the papers' ViT-L/14 "
    "configuration: use that (`ffd models import`, ViT-L-14 OpenAI weights) where its weights are available.",
    "It takes blur for forgery: FaceSwap crops are the sharpest in FaceForensics++ (`benchmarks/sharpness.py`: "
    "median Laplacian variance of the face centre in the test crops 14.5, real 12.2, Deepfakes 7.0), and a model "
    "that never saw FaceSwap scores it as more real than real faces: built by this recipe (stage 1 and one refine) "
    "with FaceSwap left out of every stage, HAMLET-FFD / MFCLIP scored the FaceSwap test crops 0.41 / 0.41 AUC "
    "(2026-12-05; the shipped tower was refined further). Sharp, well-blended swaps of an unseen method can pass as "
    "real; a low score is not evidence of authenticity.",
    "Still images only: no temporal cues. Face crops of other detectors, heavy compression or re-encoding beyond "
    "JPEG quality 70, and generators or face-swap methods not named above shift the scores.",
    "A score is the detector's probability that the face is forged, calibrated only in the sense that the "
    "threshold was chosen at the equal-error point on the validation split of this data; on other sources "
    "the threshold does not transfer.",
]


def stage_config(name: str, backbone: str | None, device: str = "auto", **overrides) -> TrainConfig:
    stage = BASELINE if name == "baseline" else STAGES[name]
    return TrainConfig(**{**SHARED, **stage, **overrides}, backbone=backbone, device=device)


def train_stages(shared: Path, work: Path, device: str = "auto", log=print, arch: str | None = None,
                 exclude: tuple[str, ...] = (), cache_dir: Path | None = None, baseline: bool = False,
                 only: str | None = None, from_backbone: str | None = None, soup: tuple[str, ...] = (),
                 tower: str | None = None, **overrides) -> dict:
    """Stage 1 (backbone) and its continuation (refine), then HAMLET-FFD and MFCLIP on the refined tower (and the
    CNN baseline if asked); a finished stage is never trained again. `only` trains that one stage, so that stages
    which do not need each other (the baseline beside stage 1; HAMLET-FFD beside MFCLIP) can run as parallel
    processes sharing one GPU. `from_backbone` (a BackboneSpec text) stands in for a finished stage 1, e.g. the
    shipped model's backbone file on a machine without the build folder that made it; `soup` (BackboneSpec texts
    of towers refined from one another) stands in for stage 1 and refine: their weight average is the tower;
    `tower` (a BackboneSpec text, e.g. the shipped model's backbone) stands in for both as it is, so that only the
    detectors train, on a tower that is not to change.
    `arch` names stage 1's architecture (default ffd-dct); a carried tower of another input size is re-gridded to
    it (core.training.resize) before anything trains on it."""
    carried = [name for name, flag in (("--from-backbone", from_backbone), ("--soup", soup), ("--tower", tower))
               if flag]
    own = [name for name in ("backbone", "refine")[:1 + bool(soup or tower)] if (work / name).exists()]
    if len(carried) > 1 or (carried and own):  # two towers: refusing beats silently ignoring one
        raise BadInputError(f"{work} would get two towers ({', '.join(carried + own)}); carry one tower into a "
                            "fresh --work folder")
    if (soup or tower) and only in ("backbone", "refine"):
        raise BadInputError(f"{carried[0]} stands in for stage {only!r}: there is nothing to train")
    specs = _soup_specs(soup) if soup else []
    for flag, text in (("--from-backbone", from_backbone), ("--tower", tower)):
        weights = BackboneSpec.parse(text).weights if text else None
        if text and not (weights and Path(weights).is_file()):
            raise BadInputError(f"{flag}: no tower file at {weights or text!r} (expected ARCH@FILE)")
    work.mkdir(parents=True, exist_ok=True)
    data = write_manifest(shared, work / "data.csv", exclude)
    summaries = {}

    def run(name: str, backbone: str | None) -> dict:
        done = _finished_summary(work / name)
        if done is not None:  # a stage that completed in an earlier invocation is not trained again
            log(f"[{name}] already trained in {work / name}")
            summaries[name] = done
            return done
        if only not in (None, name):
            raise BadInputError(f"stage {only!r} needs the finished {name!r} stage in {work}; train that first")
        log(f"[{name}] training in {work / name}")
        summary = Trainer(data, work / name, stage_config(name, backbone, device, **overrides),
                          progress=_printer(name, log), cache_dir=cache_dir).run()
        summaries[name] = summary
        return summary

    if only == "baseline":
        return {"baseline": run("baseline", arch or ARCH)}
    if soup or tower:
        tower = _fit_tower(work, _soup_tower(work, specs) if soup else tower, arch)
    else:
        tower = _fit_tower(work, from_backbone, arch) if from_backbone else run("backbone", arch or ARCH)["backbone"]
        if only != "backbone":
            tower = run("refine", tower)["backbone"]
    for name in TRAINED_STAGES:
        if only in (None, name):
            run(name, tower)
    if baseline and only is None:
        run("baseline", arch or ARCH)
    if only is None:
        _check_same_split(work)
    return summaries


def build(shared: Path, work: Path, out: Path, device: str = "auto", log=print, arch: str | None = None,
          exclude: tuple[str, ...] = (), cache_dir: Path | None = None, baseline: bool = True,
          measure: bool = True, from_backbone: str | None = None, soup: tuple[str, ...] = (),
          tower: str | None = None, baseline_from: Path | None = None, **overrides) -> dict:
    """Run the whole recipe; `arch` and `overrides` (TrainConfig fields for every stage) exist for quick checks.
    `baseline_from` (a model folder) carries its card's CNN baseline figures instead of training a baseline."""
    if baseline_from is not None and baseline:
        raise BadInputError("--baseline-from carries a baseline: it needs --no-baseline")
    started = time.time()
    summaries = train_stages(shared, work, device, log, arch, exclude, cache_dir, baseline,
                             from_backbone=from_backbone, soup=soup, tower=tower, **overrides)
    carried = _provenance(from_backbone or tower)
    souped = [_provenance(text) for text in soup]
    # the soup's towers refine one another, so the longest chain of training holds the others'
    chains = [_carried_tower_seconds(c) for c in (carried, *souped)]
    tower_seconds = max(chains, key=lambda c: c.get(CARRIED_TOWER, 0.0))
    bundle = assemble(work, out)
    card = {
        "recipe": {"command": "make default-model", "module": "core.training.default_model",
                   "architecture": bundle.backbone.arch,
                   "shared": {**SHARED, **overrides}, "stages": STAGES, "excluded_methods": list(exclude),
                   "epoch_seconds": {**tower_seconds, **_epoch_seconds(work)},
                   **({"tower" if tower else "from_backbone": carried} if carried else {}),
                   **({"soup": souped} if souped else {}),
                   "this_invocation_seconds": round(time.time() - started, 1),
                   "machine": describe_machine()},
        "training": read_bundle(work / "hamlet").card.get("training", {}),
        "validation": {name: {"best_val_auc": s["best_val_auc"], "epochs_run": s["epochs_run"]}
                       for name, s in summaries.items()},
    }
    card["training"].pop("hyperparameters", None)
    card["training"].pop("history", None)
    if baseline_from is not None:
        card["baseline"] = _carried_baseline(Path(baseline_from), out)
    bundle.card = card
    bundle.save()
    return finish_card(shared, work, out, device, log, cache_dir) if measure else card


def assemble(work: Path, out: Path) -> ModelBundle:
    """One folder: the stage-1 backbone file (copied byte for byte) and both detectors' best epochs, float16."""
    from core.backbones import load_backbone

    runs = {name: read_bundle(work / name) for name in TRAINED_STAGES}
    backbone = load_backbone(runs["hamlet"].backbone)
    detectors = {name: load_detector(run.checkpoint(name), backbone) for name, run in runs.items()}
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "split.json") as tmp:
        shutil.copyfile(work / "hamlet" / "split.json", tmp)
    return save_model(out, f"FFD default (HAMLET-FFD + MFCLIP, {backbone.arch})", backbone, detectors,
                      thresholds={name: run.threshold(name) for name, run in runs.items()}, half=True,
                      crop_margin=CROP_MARGIN, crop_jpeg=runs["hamlet"].crop_jpeg or CROP_JPEG,
                      mirror=runs["hamlet"].mirror)


def finish_card(shared: Path, work: Path, out: Path, device: str = "auto", log=print,
                cache_dir: Path | None = None) -> dict:
    """Measure the shipped folder, name it by its figures and write MODEL_CARD.md (`make eval-default`)."""
    bundle = read_bundle(out)
    card = bundle.card
    write_manifest(shared, work / "data.csv", tuple(card.get("recipe", {}).get("excluded_methods", ())))
    card["limitations"] = LIMITATIONS   # what is known about the recipe when it is measured, not when it was trained
    card["metrics"] = measure(shared, work, out, device, log, cache_dir)
    card["headline"] = headline(card["metrics"])
    if _finished_summary(work / "baseline") is not None:  # measured the same way, on the same test faces
        log("[metrics] the plain CNN baseline")
        card["baseline"] = {"recipe": BASELINE, "epoch_seconds": _epoch_seconds(work, ("baseline",))["baseline"],
                            "headline": headline(measure(shared, work, work / "baseline", device, log, cache_dir,
                                                         videos=False))}
    bundle.name = display_name(bundle.backbone.arch, card["headline"])
    bundle.card = card
    bundle.save()
    atomic_write_text(out / "MODEL_CARD.md", model_card_markdown(bundle))
    log(f"default model written to {out}")
    return card


# Test sets, each cut from the test rows of the recipe's manifest (its pinned test split): which rows each keeps.
EVAL_SETS = {
    "ffpp_faces": lambda row: row["source"] == "ffpp_faces",
    "ffhq_stylegan": lambda row: row["source"] == "ffhq_stylegan",
    "sdfd_vs_real": lambda row: row["source"] == "sdfd_faces" or row["label"] == "real",
}


EVAL_SBI_COPIES = {"ffpp_faces": 1, "ffhq_stylegan": 1, "sdfd_vs_real": 0}


def write_eval_sets(work: Path) -> dict[str, Path]:
    """Each test set as a manifest beside data.csv (the split's relative paths resolve against the same folder)."""
    rows = list(csv.DictReader((work / "data.csv").open(encoding="utf-8")))
    subsets = {}
    for name, keep in EVAL_SETS.items():
        subsets[name] = write_rows(work / f"eval_{name}.csv", (r for r in rows if r["split"] == "test" and keep(r)))
    return subsets


def measure(shared: Path, work: Path, model: Path, device: str = "auto", log=print,
            cache_dir: Path | None = None, videos: bool = True) -> dict:
    """Every reported number, computed on the assembled (float16) model as shipped, on held-out test faces only."""
    from core.training.evaluate import evaluate

    metrics = {}
    for name, subset in write_eval_sets(work).items():
        log(f"[metrics] {name}: held-out test faces (+ self-blended fakes from held-out reals)")
        try:
            result = evaluate(subset, model, device=device, aligned=True,
                              sbi_copies=EVAL_SBI_COPIES[name], cache_dir=cache_dir)
        except BadInputError as exc:  # a quick run on a few files may hold no test faces of a set
            metrics[name] = {"skipped": str(exc)}
            continue
        if result["split"] not in ("test", "unseen"):  # "unseen": a model trained on other data (v1 on FF++)
            raise RuntimeError(f"{name}: expected held-out faces, evaluated {result['split']!r}")
        metrics[name] = _strip(result)
    clips = shared / "ffpp_c23_videos"
    if videos and clips.is_dir():
        log("[metrics] FaceForensics++ c23 clips (their source videos are in ffpp_faces: not unseen)")
        metrics["ffpp_c23_videos"] = _strip(evaluate(clips, model, device=device, keep_scores=True,
                                                     cache_dir=cache_dir))
    return metrics


def headline(metrics: dict) -> dict:
    """The acceptance figures per detector (and their mean): frame AUCs on held-out test faces."""
    out: dict[str, dict] = {}
    for set_name, result in metrics.items():
        for name, r in result.get("test", {}).items():
            row = out.setdefault(name, {})
            if set_name == "ffpp_faces":
                row["ffpp_pooled"] = r["frame_no_sbi"]["auc"]
                # cards measured before 2026-12-06 list the self-blends among the methods too
                row.update({f"ffpp_{m}": v["auc"] for m, v in r["methods"].items() if m != "sbi"})
                row["sbi_ffpp"] = r["sbi_frame"]["auc"]
            elif set_name == "ffhq_stylegan":
                row["ffhq_stylegan"] = r["frame_no_sbi"]["auc"]
                row["sbi_ffhq"] = r["sbi_frame"]["auc"]
            elif set_name == "sdfd_vs_real":
                row["sdfd_vs_real"] = r["frame"]["auc"]
    return out


def display_name(arch: str, figures: dict) -> str:
    """The name travels with every score (GUI, JSON, PDF), so it states what the model is and how good."""
    worst = min(figures.get(d, {}).get("ffpp_pooled", 0.0) for d in TRAINED_STAGES)
    caveat = "" if worst >= CASEWORK_AUC else ": a screening aid, not for casework"
    return (f"FFD default ({arch}, trained from scratch; FF++ test AUC "
            + " / ".join(f"{figures.get(d, {}).get('ffpp_pooled', float('nan')):.2f}" for d in TRAINED_STAGES)
            + f"{caveat})")


def model_card_markdown(bundle: ModelBundle) -> str:
    card, lines = bundle.card, [f"# {bundle.name}", ""]
    sizes = {p.name: p.stat().st_size for p in bundle.root.glob("*.safetensors")}
    recipe = card.get("recipe", {})
    lines += [f"Backbone `{bundle.backbone.arch}` (sha256 `{bundle.backbone.sha256}`); detectors: "
              + ", ".join(f"{k} (threshold {v['threshold']:.3f})" for k, v in bundle.detectors.items())
              + f"; faces cut at {bundle.crop_margin}x the face detector's box"
              + (f" and stored as {bundle.crop_jpeg['side']} px JPEG of quality {bundle.crop_jpeg['quality']} before "
                 "scoring, as its training faces were" if bundle.crop_jpeg else "")
              + ("; the detectors read the stored face's middle pixels, unresized" if bundle.fit == "centre" else "")
              + ("; each face is scored as it is and as its mirror image, the two averaged." if bundle.mirror
                 else "."),
              f"Weights: {sum(sizes.values()) / 1e6:.1f} MB of float16 safetensors "
              f"({', '.join(f'{k} {v / 1e6:.1f} MB' for k, v in sorted(sizes.items()))}).", "",
              "## Data and provenance", "",
              f"- Training data: the recipe's manifest over ../shared/data (`core.training.default_data`; sha256 over "
              f"files and labels `{card.get('training', {}).get('data_sha256')}`): FaceForensics++ c23 face crops "
              "(authors' train part), FFHQ vs StyleGAN (70 % of it), Stable Diffusion portraits (70 %), plus one "
              "self-blended pseudo-fake per real face, made within its split.",
              f"- Methods left out of training and validation: {recipe.get('excluded_methods') or 'none'}.",
              "- Test faces: FaceForensics++'s own test crops (one crop per video: no video in two splits), the "
              "first default model's held-out FFHQ/StyleGAN files, 15 % of the SDFD portraits; never used for "
              "training, model selection or threshold choice.",
              f"- Split (shared by all stages, `split.json`): {json.dumps(card.get('training', {}).get('split'))}",
              "", "## Recipe", "",
              f"`{recipe.get('command')}` ({recipe.get('module')}); training seconds per stage (sum of epochs) on "
              f"{recipe.get('machine')}: {json.dumps(recipe.get('epoch_seconds'))}.", "",
              *([f"The tower that refine started from was carried, not trained here: `--from-backbone` took "
                 f"`{recipe['from_backbone']['file']}` (sha256 `{recipe['from_backbone']['sha256']}`), whose training "
                 f"seconds are `{CARRIED_TOWER}` above; the card beside it recorded, per stage: "
                 f"{json.dumps(recipe['from_backbone'].get('epoch_seconds'))}.", ""]
                if recipe.get("from_backbone") else []),
              *([f"The tower was carried, not trained here: `--tower` took `{recipe['tower']['file']}` (sha256 "
                 f"`{recipe['tower']['sha256']}`) as it was, whose training seconds are `{CARRIED_TOWER}` above; "
                 f"only the detectors trained on it.", ""] if recipe.get("tower") else []),
              *(["The tower was carried, not trained here: `--soup` averaged the weights of "
                 + ", ".join(f"`{i['file']}` (sha256 `{i['sha256']}`)" for i in recipe["soup"])
                 + f", towers refined one from another (`core.training.soup`); the longest chain of training among "
                 f"them is `{CARRIED_TOWER}` above.", ""] if recipe.get("soup") else []),
              "```json", json.dumps(recipe.get("stages"), indent=1), "```", "", "## Metrics (frame AUC, test faces)",
              ""]
    figures = card["headline"]
    columns = sorted({c for row in figures.values() for c in row})
    lines.append("| detector | " + " | ".join(columns) + " |")
    lines.append("|---" * (len(columns) + 1) + "|")
    rows = [*figures.items(), *((f"plain CNN baseline ({n})", r)
                                for n, r in card.get("baseline", {}).get("headline", {}).items())]
    for name, row in rows:
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.4f}" if c in row else "-" for c in columns) + " |")
    if "baseline" not in card:
        lines += ["", "The plain CNN baseline (`core.detectors.cnn`) has not been trained for this model yet."]
    elif card["baseline"].get("note"):   # e.g. a baseline carried over from an earlier build, and why
        lines += ["", card["baseline"]["note"]]
    ffpp = card["metrics"].get("ffpp_c23_videos")
    if ffpp:
        lines += ["", "FaceForensics++ c23 clips (7; their source videos are among the training crops, so this is a "
                  "sanity check of the video path, not a test):", ""]
        for name, result in ffpp["test"].items():
            scores = ", ".join(f"{Path(v).name} {s:.3f}" for v, s in result.get("video_scores", {}).items())
            lines.append(f"- {name}: video AUC {result['video']['auc']:.3f}; {scores}")
    lines += ["", "## Limitations", ""] + [f"- {text}" for text in card.get("limitations", [])]
    return "\n".join(lines) + "\n"


def _carried_baseline(source: Path, out: Path) -> dict:
    """The CNN baseline figures of the model in `source`, which must have been measured on `out`'s split: a
    baseline is only a yardstick on the same training data and the same test faces."""
    bundle = read_bundle(source)
    card = bundle.card
    if "baseline" not in card:
        raise BadInputError(f"--baseline-from: the model in {source} carries no CNN baseline figures")
    splits = [json.loads((folder / "split.json").read_text())["splits"] for folder in (source, out)]
    if splits[0] != splits[1]:
        raise BadInputError(f"--baseline-from: the model in {source} was trained and tested on another split")
    note = (f"The baseline was not retrained for this model: its figures are carried from `{source}` (sha256 of "
            f"its tower `{bundle.backbone.sha256}`), built on the same data and split (split.json "
            "identical).")
    return {**{k: v for k, v in card["baseline"].items() if k != "note"}, "note": note}


def _epoch_seconds(work: Path, stages=tuple(STAGES)) -> dict[str, float]:
    """Training time per stage trained in `work`: the sum of its epochs' wall times (data preparation excluded)."""
    return {name: round(sum(h["seconds"] for h in read_bundle(work / name).card["training"]["history"]), 1)
            for name in stages if (work / name / "model.json").is_file()}


CARRIED_TOWER = "tower (carried)"


def _provenance(from_backbone: str | None) -> dict:
    """Where a tower standing in for stage 1 came from: its file's hash and, when it sits in a model folder whose
    card recorded them (or beside a record of its own, `resources/towers/<name>.json`), the training seconds that
    made it."""
    if not from_backbone:
        return {}
    path = Path(BackboneSpec.parse(from_backbone).weights)
    digest = cached_sha256(path)
    try:
        seconds = read_bundle(path.parent).card["recipe"]["epoch_seconds"]
    except (ModelError, KeyError, TypeError):
        seconds = _tower_record(path, digest).get("epoch_seconds", {})
    return {"spec": from_backbone, "file": str(path), "sha256": digest, "epoch_seconds": seconds}


def _tower_record(path: Path, digest: str) -> dict:
    """The record committed beside a tower file outside a model folder (`resources/towers/`): how it was made,
    and the training seconds of its chain (`tower (carried)` for the tower it started from, plus its own stage's). A
    record naming another file's hash describes another tower: none."""
    try:
        record = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) and record.get("sha256") == digest else {}


def export_tower(work: Path, target: Path, stage: str = "refine") -> dict:
    """Copy a finished tower stage out of `work` into `target` (resources/towers/) with the record beside it that a
    card built on it reads (`_tower_record`), so a fresh machine continues from the file without the build folder."""
    run_dir = work / stage
    if stage not in ("backbone", "refine") or _finished_summary(run_dir) is None:
        raise BadInputError(f"{run_dir} holds no finished tower stage (backbone or refine) to export")
    bundle = read_bundle(run_dir)
    started, chain = {}, {}
    if stage == "refine":   # the tower it started from: carried in (as it was, or re-gridded) or stage 1's here
        pins = [pin for pin in (work / "carried.json", work / "resized" / "ingredients.json") if pin.is_file()]
        source = json.loads(pins[0].read_text())["files"][0] if pins else work / "backbone" / TRAINED_BACKBONE
        started = _provenance(f"{bundle.backbone.arch}@{source}")
        chain = _carried_tower_seconds(started) if pins else _epoch_seconds(work, ("backbone",))
    history = bundle.card["training"]["history"]
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(run_dir / TRAINED_BACKBONE, tmp)
    record = {"sha256": cached_sha256(target), "arch": bundle.backbone.arch, "stage": stage,
              "started_from": {"file": started["file"], "sha256": started["sha256"]} if started else None,
              "epoch_seconds": {**chain, stage: round(sum(h["seconds"] for h in history), 1)},
              "validation_auc": [round(h["val_auc"], 4) for h in history],
              "settings": bundle.card["training"].get("hyperparameters"), "machine": describe_machine()}
    atomic_write_text(target.with_suffix(".json"), json.dumps(record, indent=1) + "\n")
    return record


def _soup_specs(soup: tuple[str, ...]) -> list[BackboneSpec]:
    specs = [BackboneSpec.parse(text) for text in soup]
    if len(specs) < 2 or any(not spec.weights for spec in specs) or len({spec.arch for spec in specs}) > 1:
        raise BadInputError("--soup takes two or more towers of one architecture, each as ARCH@FILE")
    missing = [spec.weights for spec in specs if not Path(spec.weights).is_file()]
    if missing:
        raise BadInputError(f"--soup: no tower file at {', '.join(missing)}")
    seen: dict[str, str] = {}
    for spec in specs:  # an average of one tower with itself is that tower: a run would train on it unawares
        digest = cached_sha256(spec.weights)
        if digest in seen:
            beside = Path(spec.weights).with_name(TRAINED_BACKBONE)
            hint = (f"; {beside} beside it is the tower that stage trained" if beside.is_file()
                    and cached_sha256(beside) != digest else "")
            raise BadInputError(f"--soup: {seen[digest]} and {spec.weights} hold the same weights "
                                f"(sha256 {digest[:12]}), so their average changes nothing{hint}")
        seen[digest] = spec.weights
    return specs


def _soup_tower(work: Path, specs: list[BackboneSpec]) -> str:
    """The weight average of the `specs` towers, written once into work/soup."""
    return _derived_tower(work / "soup", [spec.weights for spec in specs], specs[0].arch, average_towers)


def _fit_tower(work: Path, tower: str, arch: str | None) -> str:
    """`tower` itself, or when `arch` is another input size of its architecture, its copy re-gridded to `arch`,
    written once into work/resized. Either way the work folder is pinned to the carried file: a rerun carrying
    another tower is refused instead of resuming stages trained on the first."""
    spec = BackboneSpec.parse(tower)
    if arch is None or spec.arch == arch:
        if not _pinned(work / "carried.json", [spec.weights]):
            _pin(work / "carried.json", [spec.weights])
        return tower
    return _derived_tower(work / "resized", [spec.weights], arch,
                          lambda files, target: resize_tower(files[0], arch, target))


def _derived_tower(folder: Path, files: list[str], arch: str, make) -> str:
    """A tower made once by `make(files, target)` into `folder` and pinned to its sources."""
    target = folder / "backbone.safetensors"
    if not (_pinned(folder / "ingredients.json", files) and target.is_file()):
        make(files, target)
        _pin(folder / "ingredients.json", files)
    return f"{arch}@{target}"


def _pinned(record: Path, files: list[str]) -> bool:
    """Whether `record` holds these files' hashes; another file set is refused: the stages trained on the first
    tower would no longer match it."""
    if not record.is_file():
        return False
    pinned = json.loads(record.read_text())
    if pinned["sha256"] != [cached_sha256(f) for f in files]:
        raise BadInputError(f"{record.parent} was made from other towers ({', '.join(pinned['files'])}); carry "
                            "these into a fresh --work folder")
    return True


def _pin(record: Path, files: list[str]) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(record, json.dumps({"sha256": [cached_sha256(f) for f in files],
                                          "files": [str(f) for f in files]}, indent=1))


def _carried_tower_seconds(carried: dict) -> dict[str, float]:
    """The seconds that trained a carried tower, over every build in its chain (stage 1 and each refine)."""
    seconds = carried.get("epoch_seconds", {})
    tower = [seconds[k] for k in (CARRIED_TOWER, *STAGES) if k in seconds and k not in TRAINED_STAGES]
    return {CARRIED_TOWER: round(sum(tower), 1)} if tower else {}


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
    names = [n for n in (*STAGES, "baseline") if (work / n / "split.json").is_file()]
    splits = [json.loads((work / name / "split.json").read_text())["splits"] for name in names]
    if any(s != splits[0] for s in splits[1:]):
        raise RuntimeError("the stages did not train on the same split")


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


def parse_overrides(items: list[str]) -> dict:
    """`KEY=JSON` texts -> TrainConfig overrides; an unknown field or a value that is not JSON is refused by name."""
    known = {f.name for f in fields(TrainConfig)}
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise BadInputError(f"--set {item!r}: expected KEY=JSON with KEY one of {', '.join(sorted(known))}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"--set {item!r}: the value is not JSON ({exc.msg})") from None
    return overrides


def main(argv: list[str] | None = None) -> int:
    """The recipe's command line: a problem it can explain is one line on stderr and its exit code."""
    try:
        return _main(argv)
    except FFDError as exc:
        print(f"default-model: error: {exc}", file=sys.stderr)
        return exc.exit_code


def _main(argv: list[str] | None) -> int:
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=shared, help="the folder holding the face sets")
    parser.add_argument("--work", type=Path, default=Path("build/default-model"))
    parser.add_argument("--out", type=Path, default=resources_dir() / "models" / "default")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--exclude", action="append", default=[],
                        help="leave a method out of training and validation (e.g. FaceSwap); repeatable")
    parser.add_argument("--train-only", action="store_true", help="train the stages, do not assemble or measure")
    parser.add_argument("--no-baseline", action="store_true", help="skip training the plain CNN baseline")
    parser.add_argument("--stage", choices=[*STAGES, "baseline"],
                        help="with --train-only: train just this stage (the stages it needs must be finished)")
    parser.add_argument("--no-measure", action="store_true",
                        help="assemble the model folder but leave measuring it to --eval-only (e.g. where MediaPipe, "
                             "which the video figures need, is missing)")
    parser.add_argument("--eval-only", action="store_true",
                        help="re-measure the model in --out and rewrite its card (make eval-default)")
    parser.add_argument("--measure", type=Path, metavar="MODEL_DIR",
                        help="print the figures of any model folder on the recipe's test faces (changes nothing)")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("SHIPPED", "CANDIDATE"),
                        help="score two model folders face by face on the test faces: each figure's difference "
                             "with a 95 %% paired bootstrap interval (changes nothing)")
    parser.add_argument("--cache-dir", type=Path, help="face cache folder (default: the app's data folder)")
    parser.add_argument("--export-tower", type=Path, metavar="FILE",
                        help="copy --work's finished --stage (default refine) tower to FILE (e.g. resources/towers/"
                             "NAME.safetensors) with the record beside it that a card built on it reads (changes nothing "
                             "else)")
    parser.add_argument("--from-backbone", metavar="ARCH@FILE",
                        help="take this tower as the finished stage 1 (e.g. ffd-dct@resources/models/default/"
                             "backbone.safetensors) and continue the recipe from it")
    parser.add_argument("--soup", action="append", default=[], metavar="ARCH@FILE",
                        help="repeatable: average these towers (refined one from another) and use the average "
                             "in place of stage 1 and refine")
    parser.add_argument("--tower", metavar="ARCH@FILE",
                        help="take this finished tower as it is in place of stage 1 and refine (e.g. the shipped "
                             "model's backbone file): only the detectors train on it")
    parser.add_argument("--arch", help="the tower's architecture (default ffd-dct); a carried tower of another input "
                                       "size (e.g. ffd-dct into ffd-dct-256) is re-gridded to it")
    parser.add_argument("--baseline-from", type=Path, metavar="MODEL_DIR",
                        help="with --no-baseline: carry this model folder's CNN baseline figures (same split) "
                             "into the new card instead of training a baseline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="override a training setting for every stage (a TrainConfig field, e.g. "
                             "sbi_fresh=true); the card records it")
    args = parser.parse_args(argv)
    measuring = [flag for flag, on in (("--eval-only", args.eval_only), ("--measure", args.measure),
                                       ("--compare", args.compare), ("--export-tower", args.export_tower)) if on]
    if measuring and (args.set or args.soup or args.from_backbone or args.tower or args.arch or args.baseline_from):
        parser.error(f"{measuring[0]} trains nothing: --set, --soup, --from-backbone, --tower, --arch and "
                     "--baseline-from only apply to training")
    overrides = parse_overrides(args.set)
    log = lambda m: print(time.strftime("%H:%M:%S"), m, flush=True)  # noqa: E731
    exclude = tuple(m.lower() for m in args.exclude)
    if args.train_only:
        train_stages(args.shared, args.work, args.device, log, args.arch, exclude=exclude, cache_dir=args.cache_dir,
                     baseline=not args.no_baseline, only=args.stage, from_backbone=args.from_backbone,
                     soup=tuple(args.soup), tower=args.tower, **overrides)
        return 0
    if args.export_tower:
        print(json.dumps(export_tower(args.work, args.export_tower, args.stage or "refine"), indent=1))
        return 0
    if args.measure:
        write_manifest(args.shared, args.work / "data.csv", exclude)
        figures = headline(measure(args.shared, args.work, args.measure, args.device, log, args.cache_dir,
                                   videos=False))
        print(json.dumps(figures, indent=1))
        return 0
    if args.compare:
        from core.training.compare import compare_models, format_table

        write_manifest(args.shared, args.work / "data.csv", exclude)
        print(format_table(compare_models(args.work, *args.compare, args.device, log, args.cache_dir), *args.compare))
        return 0
    if args.eval_only:
        card = finish_card(args.shared, args.work, args.out, args.device, log, args.cache_dir)
        print(json.dumps(card["headline"], indent=1))
        return 0
    card = build(args.shared, args.work, args.out, args.device, log, args.arch, exclude=exclude,
                 cache_dir=args.cache_dir,
                 baseline=not args.no_baseline, measure=not args.no_measure, from_backbone=args.from_backbone,
                 soup=tuple(args.soup), tower=args.tower, baseline_from=args.baseline_from, **overrides)
    print(json.dumps(card.get("headline", {}), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
