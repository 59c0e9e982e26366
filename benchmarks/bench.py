"""Speed of each stage on this machine, and of the whole `analyze`, printed as a table and written as CSV.

    python benchmarks/bench.py [--model DIR | --arch NAME] [--video PATH] [--fps 1] [--csv out.csv]

With --arch the detectors run on randomly initialised weights: fine for timing (speed does not depend on the
weights), meaningless for scores, and labelled as such. Figures depend on the machine; the header names it.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "ffpp_c23_videos" / "fake" / "519_515.mp4"


def timed(fn, repeats: int = 3) -> float:
    """Best wall time of `repeats` runs (after one warm-up): the least disturbed measurement."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def load(args):
    from core.backbones import load_backbone
    from core.detectors.registry import build_detector
    from core.engine import select_device
    from core.models import load_model, read_bundle, resolve_bundle, save_model

    device = select_device(args.device)
    if args.arch:
        backbone = load_backbone(args.arch, allow_random=True)
        folder = Path(tempfile.mkdtemp(prefix="ffd-bench-"))
        save_model(folder, f"{args.arch} (random weights: timing only)", backbone,
                   {name: build_detector(name, backbone) for name in ("hamlet", "mfclip")})
        return load_model(read_bundle(folder), ["hamlet", "mfclip"], device=device)
    return load_model(resolve_bundle(args.model), ["hamlet", "mfclip"], device=device)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the installed default model)")
    parser.add_argument("--arch", help="time a random-weights model of this architecture instead")
    parser.add_argument("--video", default=str(DEFAULT_VIDEO))
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--batches", default="1,8,16")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--csv", default="benchmarks/results.csv")
    args = parser.parse_args()

    from core.detectors.base import score_faces
    from core.engine import AnalysisSettings, analyze
    from core.engine.device import describe_machine
    from core.faces import FaceDetector, align_crop
    from core.media import DecodeStats, Sampling, iter_frames

    rows: list[tuple[str, str, float, str]] = []

    def add(stage: str, detail: str, value: float, unit: str) -> None:
        rows.append((stage, detail, value, unit))
        print(f"{stage:28s} {detail:34s} {value:10.2f} {unit}", flush=True)

    machine = describe_machine()
    print(f"machine: {machine}")
    sampling = Sampling("fps", args.fps)
    frames = []

    def decode() -> None:
        frames.clear()
        frames.extend(iter_frames(args.video, sampling, stats=DecodeStats()))

    seconds = timed(decode, 1)
    add("decode+sample", f"{Path(args.video).name} @ {args.fps:g} fps", len(frames) / seconds, "frames/s")
    total = [0]

    def decode_all() -> None:
        total[0] = sum(1 for _ in iter_frames(args.video, Sampling("all")))

    seconds = timed(decode_all, 1)
    add("decode (every frame)", Path(args.video).name, total[0] / seconds, "frames/s")

    with FaceDetector() as detector:
        found = [detector.detect(f.image) for f in frames]
        add("face detection", f"{frames[0].image.shape[1]}x{frames[0].image.shape[0]}",
            len(frames) / timed(lambda: [detector.detect(f.image) for f in frames], 1), "frames/s")

    model = load(args)
    print(f"model: {model.bundle.name} ({model.backbone.arch})")
    crops = [align_crop(f.image, d[0], model.backbone.image_size).crop for f, d in zip(frames, found, strict=True) if d]
    forward_per_face = {}
    mirrored = " + mirror images" if model.bundle.mirror else ""
    for name, det in model.detectors.items():
        for batch in [int(b) for b in args.batches.split(",")]:
            faces = torch.stack([torch.from_numpy(crops[i % len(crops)]).permute(2, 0, 1) for i in range(batch)])
            faces = faces.float().div(255).to(next(det.parameters()).device)
            with torch.inference_mode():   # as the engine scores them: with the mirror image, if the model says so
                seconds = timed(lambda d=det, x=faces: score_faces(d, x, model.bundle.mirror))
            add(f"{name} forward", f"batch {batch}{mirrored}", batch / seconds, "faces/s")
            forward_per_face[name] = seconds / batch
    add("both detectors", f"batch {batch}{mirrored}", 1 / sum(forward_per_face.values()), "faces/s")

    # Issue targets: HAMLET's plugin vs the bare CLIP image forward (batch 16); MFCLIP's patch selection + SRM.
    hamlet = model.detectors["hamlet"]
    faces = torch.rand(16, 3, hamlet.input_size, hamlet.input_size, device=next(hamlet.parameters()).device)
    with torch.inference_mode():
        feats = hamlet.backbone_features(faces)
        clip_s = timed(lambda: model.backbone.model.encode_image(hamlet.normalize(faces)))
        plugin_s = timed(lambda: hamlet.forward_features(feats))
    add("hamlet plugin / CLIP image", f"{model.backbone.arch}, batch 16", 100 * plugin_s / clip_s, "%")
    from core.forensics import crop_patches, richest_patch, srm_filter

    crops224 = torch.rand(32, 3, 224, 224)

    def select_and_filter() -> None:
        boxes, _ = richest_patch(crops224, 112)
        srm_filter(crop_patches(crops224, boxes, 112))

    add("mfclip patch + SRM", "224 crops, p=112, batch 32", 1000 * timed(select_and_filter) / 32, "ms/crop")

    settings = AnalysisSettings(sampling=sampling)
    result = analyze(args.video, settings, model)  # warm-up
    start = time.perf_counter()
    result = analyze(args.video, settings, model)
    whole = time.perf_counter() - start
    n_faces = sum(len(fr.faces) for fr in result.detectors["hamlet"].frames)
    add("whole analyze", f"{Path(args.video).name} @ {args.fps:g} fps", whole, "s")
    detector_time = n_faces * sum(forward_per_face.values())
    add("whole / detector forward", f"{n_faces} faces, both detectors", whole / max(detector_time, 1e-9), "x")

    if not args.arch:  # what a user waits for: a fresh `ffd analyze` process, model loading included
        import subprocess

        with tempfile.TemporaryDirectory(prefix="ffd-bench-") as scratch:
            command = [sys.executable, "-m", "core.cli", "analyze", args.video, "--fps", f"{args.fps:g}", "--quiet",
                       "--json", str(Path(scratch) / "out.json")] + (["--model", args.model] if args.model else [])
            start = time.perf_counter()
            subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
            add("ffd analyze (new process)", f"{Path(args.video).name} @ {args.fps:g} fps",
                time.perf_counter() - start, "s")

    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["machine", "model", "stage", "detail", "value", "unit"])
        writer.writerows([machine, model.bundle.name, *row] for row in rows)
    print(f"csv: {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
