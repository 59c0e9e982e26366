"""`ffd`: the engine without a window: analyse, batch, manage models.

Exit codes: 0 ok, 1 internal error, 2 bad input (not media, corrupt, unreadable; a wrong option value; an output
path that is an input, a link to one, inside the batched folder, read-only or not writable: refused before any
analysis; disk full), 3 no face found, 4 model unavailable or invalid (checked before any weights load), 5 case
store unusable (damaged: `ffd cases move-aside`), 6 `ffd batch` done but some files failed (their lines say why),
7 `ffd batch --ray`: the Ray cluster is unreachable or was lost (finished lines kept: re-run to resume),
130 cancelled. Errors name the file and the problem; tracebacks only with --debug.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

import core
from core.atomic import check_writable
from core.errors import BadInputError, CancelledError, FFDError, ModelError
from core.evidence import check_output_path

EXIT_OK, EXIT_INTERNAL = 0, 1
EXIT_SOME_FAILED = 6     # `ffd batch` finished, but at least one file's line is an error


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.debug or os.environ.get("FFD_DEBUG"):
        import logging

        logging.getLogger("core").addHandler(logging.StreamHandler())   # e.g. each failed batch file's traceback
        logging.getLogger("core").setLevel(logging.DEBUG)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or EXIT_OK
    except FFDError as exc:
        print(f"ffd: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ffd: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the user gets one line; --debug gives the traceback for a bug report
        if args.debug or os.environ.get("FFD_DEBUG"):
            traceback.print_exc()
        print(f"ffd: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return EXIT_INTERNAL


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ffd", description="Face forgery detection (HAMLET-FFD, MFCLIP).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.add_argument("--version", action="version", version=f"ffd {core.__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    analyze = sub.add_parser("analyze", help="analyse one video or photo")
    analyze.add_argument("path")
    _add_analysis_options(analyze)
    analyze.add_argument("--json", metavar="OUT", help="write the full result as JSON")
    analyze.add_argument("--with-images", action="store_true",
                         help="include face crops / attention / SRM images (base64) in the JSON")
    analyze.add_argument("--report", metavar="OUT.pdf", help="write the PDF case report")
    analyze.add_argument("--case-number", help="case number printed on the report")
    analyze.add_argument("--examiner", help="examiner printed on the report")
    analyze.add_argument("--notes", help="notes printed on the report")
    analyze.set_defaults(func=cmd_analyze)

    batch = sub.add_parser("batch", help="analyse every media file under a folder (recursively)")
    batch.add_argument("folder")
    batch.add_argument("--out", required=True, metavar="RESULTS.jsonl",
                       help="one JSON line per file, written as each finishes; re-running skips finished files")
    batch.add_argument("--retry-errors", action="store_true", help="analyse again the files whose line is an error")
    cluster = batch.add_argument_group("Ray cluster (optional extra: pip install 'ffd-desktop[cluster]')")
    cluster.add_argument("--ray", metavar="ADDRESS",
                         help="analyse on a Ray cluster: auto (join the running one), local (start one on this "
                              "machine, bound to 127.0.0.1), or HOST:PORT; this machine still writes --out")
    cluster.add_argument("--ray-actors", type=positive_int, metavar="N",
                         help="workers, each loading the model once (default: one per GPU, else one per CPU)")
    cluster.add_argument("--ship-bytes", action="store_true",
                         help="send each file's bytes to the workers (default: they open the same path, so it "
                              "must be on storage every node mounts at that path)")
    cluster.add_argument("--ray-file-timeout", type=positive_float, default=1800.0, metavar="SECONDS",
                         help="a file with no result by then gets an error line (default 1800)")
    _add_analysis_options(batch)
    batch.set_defaults(func=cmd_batch)

    train = sub.add_parser("train", help="fine-tune a detector on a labelled folder (real/, fake/<method>/) or CSV")
    train.add_argument("data")
    train.add_argument("--detector", choices=["hamlet", "mfclip", "clip", "cnn"], required=True,
                       help="clip = stage 1: train the backbone itself on the hierarchical prompts; "
                            "cnn = the plain supervised CNN baseline")
    train.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (becomes a model folder)")
    train.add_argument("--backbone", help="e.g. ViT-L-14:openai, ARCH@weights.safetensors "
                                          "(default: the default model's backbone)")
    train.add_argument("--random-backbone", action="store_true",
                       help="allow a randomly initialised backbone (training from scratch / tests)")
    train.add_argument("--epochs", type=positive_int, default=10)
    train.add_argument("--batch-size", type=positive_int, default=32)
    train.add_argument("--lr", type=positive_float)
    train.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay")
    train.add_argument("--patience", type=int, default=3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--sbi", type=int, default=0, metavar="N", help="self-blended pseudo-fakes per real face")
    train.add_argument("--frames-per-video", type=positive_int, default=16)
    train.add_argument("--aligned", action="store_true", help="inputs are already face crops (skip detection)")
    train.add_argument("--augment", action="store_true",
                       help="fresh JPEG / blur / colour / zoom degradations of the training faces every epoch")
    train.add_argument("--max-files", type=positive_int, help="at most N files per label (quick runs)")
    train.add_argument("--config", default="{}", help="detector config overrides as JSON")
    train.add_argument("--device", default="auto")
    train.add_argument("--half-weights", action="store_true", help="store weights as float16 (half the size)")
    train.add_argument("--mirror", action="store_true",
                       help="score each face and its mirror image and average them (validation, test and the "
                            "model it writes); twice the scoring compute")
    train.add_argument("--no-resume", action="store_true", help="start over even if RUN_DIR holds a run")
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("eval", help="evaluate a model folder on labelled data (its test split if known)")
    evaluate.add_argument("data")
    evaluate.add_argument("--model", required=True, metavar="RUN_DIR")
    evaluate.add_argument("--json", metavar="OUT")
    evaluate.add_argument("--sbi", type=int, default=0, metavar="N", help="also score N pseudo-fakes per real")
    evaluate.add_argument("--frames-per-video", type=positive_int, default=16)
    evaluate.add_argument("--aligned", action="store_true")
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(func=cmd_eval)

    models = sub.add_parser("models", help="list, import and choose models")
    msub = models.add_subparsers(metavar="ACTION")
    mlist = msub.add_parser("list", help="backbone architectures, weights and installed models")
    mlist.add_argument("--archs", action="store_true", help="list every known architecture")
    mlist.set_defaults(func=cmd_models_list)
    mimport = msub.add_parser("import", help="import backbone weights (safetensors or a torch state dict)")
    mimport.add_argument("path")
    mimport.add_argument("--arch", required=True, help="open_clip architecture name, e.g. ViT-L-14")
    mimport.set_defaults(func=cmd_models_import)
    mdefault = msub.add_parser("use", help="make a model folder the default for analyses")
    mdefault.add_argument("model_dir")
    mdefault.set_defaults(func=cmd_models_use)

    cases = sub.add_parser("cases", help="the case store of saved analyses")
    csub = cases.add_subparsers(metavar="ACTION")
    clist = csub.add_parser("list", help="saved analyses, newest first")
    clist.add_argument("--search", help="substring of file name, path, SHA-256, case number, examiner or notes")
    clist.add_argument("--limit", type=int, default=50)
    clist.set_defaults(func=cmd_cases_list)
    caside = csub.add_parser("move-aside", help="rename a damaged case store (kept for recovery) and start a new one")
    caside.set_defaults(func=cmd_cases_move_aside)
    return parser


def _add_analysis_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detectors", type=detector_names, default="hamlet,mfclip",
                   help="comma-separated (default: hamlet,mfclip)")
    p.add_argument("--model", metavar="DIR", help="model folder (default: the configured / shipped model)")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--fps", type=positive_float, default=1.0, help="frames sampled per second of video (default 1)")
    rate.add_argument("--max-frames", type=positive_int, metavar="K", help="at most K evenly spaced frames")
    rate.add_argument("--all-frames", action="store_true", help="every frame")
    p.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--aggregation", default="mean", choices=["mean", "median", "max", "top25"])
    p.add_argument("--threshold", type=probability, help="fake threshold (default: the model's validated threshold)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


# Argument types: a mistyped number is refused by argparse (exit 2, usage line) before anything is loaded, instead of
# surfacing as an internal error minutes later. float() accepts "nan" and "inf", so finiteness is checked too.

def positive_float(text: str) -> float:
    value = _number(text, float)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return value


def probability(text: str) -> float:
    value = _number(text, float)
    if not 0.0 <= value <= 1.0:    # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}")
    return value


def detector_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"name at least one detector, e.g. hamlet,mfclip (got {text!r})")
    return names


def _number(text: str, kind):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {'whole ' if kind is int else ''}number: {text!r}") from None


def _settings(args):
    from core.engine import AnalysisSettings
    from core.media import Sampling

    if args.all_frames:
        sampling = Sampling("all")
    elif args.max_frames:
        sampling = Sampling("count", float(args.max_frames))
    else:
        sampling = Sampling("fps", args.fps)
    return AnalysisSettings(detectors=args.detectors, sampling=sampling, batch_size=args.batch_size,
                            aggregation=args.aggregation, threshold=args.threshold)


def _check_model(args):
    """The model bundle, validated (folder, files, detectors): milliseconds, before torch and any weights load."""
    from core.detectors.registry import available_detectors
    from core.models import resolve_bundle

    unknown = sorted(set(args.detectors) - set(available_detectors()))
    if unknown:
        raise FFDError(f"unknown detector(s) {', '.join(unknown)}; available: {', '.join(available_detectors())}")
    bundle = resolve_bundle(args.model)
    for name in args.detectors:
        bundle.checkpoint(name)               # a detector the model lacks is refused before the backbone loads
    return bundle


def _load(args, bundle):
    from core.engine import select_device
    from core.models import load_model

    return load_model(bundle, args.detectors, device=select_device(args.device))


def _progress_printer(quiet: bool, label: str):
    if quiet:
        return None

    def show(p) -> None:
        eta = f", ETA {p.eta_s:.0f}s" if p.eta_s is not None else ""
        print(f"\r{label}: {p.stage} {p.done}/{p.total}{eta}   ", end="", file=sys.stderr, flush=True)
        if p.stage == "done":
            print(file=sys.stderr)

    return show


def cmd_analyze(args) -> int:
    from core.atomic import atomic_write_text
    from core.media import identify

    for output in (args.json, args.report):
        if output:
            check_output_path(output, inputs=[args.path])
            check_writable(output)
    identify(args.path)   # missing, unreadable or not media: said before torch loads (seconds); decodes nothing
    bundle = _check_model(args)   # so is a broken model folder
    from core.engine import analyze

    settings = _settings(args)
    model = _load(args, bundle)
    result = analyze(args.path, settings, model, progress=_progress_printer(args.quiet, Path(args.path).name))
    if args.json:
        atomic_write_text(args.json, result.to_json(include_artifacts=args.with_images, indent=1))
    if args.report:
        from core.report import write_report

        write_report(result, args.report, case_number=args.case_number, examiner=args.examiner, notes=args.notes)
    print(summary(result))
    return 0


def summary(result) -> str:
    lines = [f"{result.file['path']}  sha256 {result.file['sha256']}",
             f"faces in {result.frames_with_faces}/{result.sampled_frames} sampled frames"]
    for name, det in result.detectors.items():
        ids = ", ".join(f"#{i.id}: {i.score:.3f} ({i.frames} fr)" for i in det.identities)
        lines.append(f"{name:8s} {det.verdict.upper():5s} score {det.video_score:.3f} "
                     f"(threshold {det.threshold:.2f}; identities {ids}; model {det.model['name']})")
    lines.extend(f"warning: {w}" for w in result.warnings)
    lines.append("Scores are model estimates for investigative triage, not proof; see the report's limitations.")
    return "\n".join(lines)


def cmd_batch(args) -> int:
    """Durable and resumable (core.batch): each finished file's line is on disk at once, a re-run skips them."""
    from core.batch import ResultsFile, result_key, run_batch, sequential
    from core.cluster import ClusterError, ClusterUsageError
    from core.media import MEDIA_EXTENSIONS

    if (args.ship_bytes or args.ray_actors) and not args.ray:
        raise ClusterUsageError("--ship-bytes and --ray-actors need --ray ADDRESS")

    folder = Path(args.folder).absolute()     # absolute paths in the lines: a re-run from elsewhere still matches
    if not folder.is_dir():
        raise BadInputError("not a folder", path=args.folder)
    files = batch_inputs(folder)
    if not files:
        raise BadInputError(f"no media files ({', '.join(sorted(MEDIA_EXTENSIONS))}) found", path=str(folder))
    check_output_path(args.out, inputs=files, input_dirs=[folder])
    check_writable(args.out)
    bundle = _check_model(args)
    from core.engine import analyze  # torch: only once the folder, output and model are known good

    settings = _settings(args)
    model = None

    def analyse(path: str) -> dict:
        nonlocal model
        if model is None:         # loaded on the first file only: a fully resumed batch loads nothing
            model = _load(args, bundle)
        return analyze(path, settings, model).to_dict()

    key = result_key(_result_identity(settings, bundle))
    executor = sequential if not args.ray else _ray_executor(args, bundle, settings, key)
    with ResultsFile(args.out, key) as results:
        if results.cut_fragment and not args.quiet:
            print(f"ffd: {args.out}: cut off an unfinished last line (an interrupted run); its file is analysed "
                  "again", file=sys.stderr)
        try:
            summary = run_batch(files, analyse, results, retry_errors=args.retry_errors, executor=executor,
                                progress=_batch_progress(args.quiet, args.out))
        except KeyboardInterrupt:
            raise CancelledError(f"interrupted: the {results.lines} finished line(s) are kept in {args.out}; "
                                 "run the same command again to resume") from None
        except ClusterError as exc:
            kept = f"the {results.lines} finished line(s) are kept in {args.out}: run the same command again to " \
                "resume" if results.lines else "nothing was written"
            raise ClusterError(f"{exc}; {kept}") from None
    retry = f" ({summary.failed_before} kept from an earlier run: --retry-errors redoes them)" \
        if summary.failed_before else ""
    print(f"{summary.inputs} file(s): {summary.analysed} analysed, {summary.skipped} skipped (already done), "
          f"{summary.failed} failed{retry} -> {args.out}")
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


def _ray_executor(args, bundle, settings, key: str):
    """The batch's executor on a Ray cluster (core.cluster); Ray itself is imported only when files need it."""
    from core.cluster import RayExecutor, import_ray

    import_ray(args.ray)      # not installed: say how to install it before anything else
    return RayExecutor(args.ray, str(bundle.root.resolve()), settings, key, device=args.device,
                       actors=args.ray_actors, ship_bytes=args.ship_bytes, file_timeout=args.ray_file_timeout)


def batch_inputs(folder: Path) -> list[Path]:
    """Media files under `folder`, dangling links included: every one of them gets a line."""
    from core.media import MEDIA_EXTENSIONS

    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in MEDIA_EXTENSIONS
                  and (p.is_file() or (p.is_symlink() and not p.exists())))


def _result_identity(settings, bundle) -> dict:
    """What shapes a batch line besides the evidence: settings and model weights (not speed knobs)."""
    from core.digest import cached_sha256

    spec = bundle.backbone
    plain = {k: v for k, v in settings.to_dict().items() if k not in ("batch_size", "max_artifacts")}
    return {"settings": plain, "model": bundle.name, "arch": spec.arch, "crop_margin": bundle.crop_margin,
            "crop_jpeg": bundle.crop_jpeg,   # how faces are stored and fitted changes every score too
            **({"mirror": True} if bundle.mirror else {}),   # (absent when off: older batch lines still match)
            "backbone": spec.sha256 or (cached_sha256(spec.weights) if spec.weights else spec.pretrained),
            "detectors": {n: [cached_sha256(str(bundle.checkpoint(n))), bundle.threshold(n)]
                          for n in settings.detectors}}


def _batch_progress(quiet: bool, out: str):
    """A bar with ETA when stderr is a terminal; otherwise one line per file (logs, pipes)."""
    if quiet:
        return None
    state = {"bar": None, "start": time.time()}

    def show(p) -> None:
        if p.done == 0:
            skipped = f"; {p.skipped} already done in {out}, skipped" if p.skipped else ""
            print(f"{p.total} file(s) to analyse{skipped}", file=sys.stderr)
            if sys.stderr.isatty() and p.total:
                from tqdm import tqdm

                state["bar"] = tqdm(total=p.total, unit="file", file=sys.stderr, dynamic_ncols=True)
            return
        bar, named = state["bar"], p.error if p.error and p.path in p.error else f"{p.path}: {p.error}"
        if bar is not None:
            bar.set_postfix_str(f"failed {p.failed}" if p.failed else "", refresh=False)
            bar.update(1)
            if p.error:
                bar.write(f"failed: {named}", file=sys.stderr)
            if p.done == p.total:
                bar.close()
            return
        elapsed = time.time() - state["start"]
        eta = elapsed / p.done * (p.total - p.done)
        print(f"[{p.done}/{p.total}, ETA {eta:.0f}s] " + (f"failed: {named}" if p.error else f"ok: {p.path}"),
              file=sys.stderr, flush=True)

    return show


def cmd_train(args) -> int:
    from core.training.dataset import load_samples

    try:
        overrides = json.loads(args.config)
    except json.JSONDecodeError as exc:
        raise FFDError(f"--config is not valid JSON ({exc})") from None
    load_samples(args.data, args.max_files, args.seed)   # a wrong folder or manifest: said before torch loads
    from core.training.trainer import TrainConfig, Trainer

    config = TrainConfig(detector=args.detector, backbone=args.backbone, random_backbone=args.random_backbone,
                         detector_config=overrides, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         weight_decay=args.weight_decay,
                         patience=args.patience, seed=args.seed, sbi_copies=args.sbi,
                         frames_per_video=args.frames_per_video, aligned=args.aligned, augment=args.augment,
                         max_files=args.max_files,
                         device=args.device, half_weights=args.half_weights, mirror=args.mirror)

    def show(p) -> None:
        if args.quiet:
            return
        parts = [p.stage, f"epoch {p.epoch}/{p.epochs}" if p.epochs else "", f"step {p.step}/{p.steps}"
                 if p.steps else "", f"loss {p.loss:.4f}" if p.loss is not None else "",
                 f"val AUC {p.val_auc:.4f}" if p.val_auc is not None else "",
                 f"ETA {p.eta_s:.0f}s" if p.eta_s is not None else "", p.message]
        print("\r" + "  ".join(x for x in parts if x) + "   ", end="", file=sys.stderr, flush=True)
        if p.stage in ("validating", "done"):
            print(file=sys.stderr)

    summary = Trainer(args.data, args.out, config, progress=show).run(resume=not args.no_resume)
    test = summary["test"]
    print(f"best validation AUC {summary['best_val_auc']:.4f} after {summary['epochs_run']} epoch(s)")
    print(_metrics_table({args.detector: test}))
    print(f"model folder: {args.out}  (use it with `ffd analyze --model {args.out}`)")
    if "backbone" in summary:
        print(f"trained backbone: train detectors on it with --backbone {summary['backbone']}")
    return 0


def cmd_eval(args) -> int:
    from core.atomic import atomic_write_text
    from core.models import read_bundle
    from core.training.dataset import load_samples

    if args.json:
        check_output_path(args.json, inputs=[args.data], input_dirs=[args.data])   # DATA: a CSV or a folder
        check_writable(args.json)
    read_bundle(args.model)      # a broken model folder or wrong data: said before torch loads
    load_samples(args.data)
    from core.training.evaluate import evaluate

    result = evaluate(args.data, args.model, device=args.device, frames_per_video=args.frames_per_video,
                      aligned=args.aligned, sbi_copies=args.sbi)
    print(f"{result['files']} files ({result['split']} split)")
    print(_metrics_table(result["test"]))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=1))
    return 0


def _metrics_table(per_detector: dict) -> str:
    rows = [f"{'detector':9s} {'level':10s} {'AUC':>7s} {'AP':>7s} {'EER':>7s} {'acc@thr':>8s} {'thr':>6s} {'n':>6s}"]
    for name, result in per_detector.items():
        for level in ("frame", "frame_no_sbi", "sbi_frame", "video"):
            if level in result:
                m = result[level]
                rows.append(f"{name:9s} {level:10s} {m['auc']:7.4f} {m['ap']:7.4f} {m['eer']:7.4f} "
                            f"{m['acc@thr']:8.4f} {m['threshold']:6.3f} {m['n']:6d}")
    return "\n".join(rows)


def cmd_models_list(args) -> int:
    from core.backbones import list_architectures, register_shipped_configs
    from core.backbones.weights import imported_weights
    from core.models import default_model_dir, read_bundle

    if args.archs:
        print("\n".join(list_architectures()))
        return 0
    print("Shipped architecture configs:", ", ".join(register_shipped_configs()) or "none")
    print("Imported backbone weights:")
    for entry in imported_weights() or [{"arch": "(none)", "sha256": "", "file": ""}]:
        print(f"  {entry['arch']:20s} {entry['sha256'][:16]:16s} {entry['file']}")
    default = default_model_dir()
    print("Default model:", default or "none installed")
    if default:
        bundle = read_bundle(default)
        for name in bundle.detectors:
            print(f"  {name:8s} {bundle.checkpoint(name)} (threshold {bundle.threshold(name):.3f})")
    print("Pretrained open_clip weights (e.g. ViT-L-14:openai) are used from the local cache, "
          "or downloaded when the network is reachable.")
    return 0


def cmd_models_import(args) -> int:
    path = Path(args.path)
    if not path.is_file():      # said before torch loads
        raise ModelError("weights file not found" if not path.exists() else
                         "is a folder: give the weights file (.safetensors or a torch state dict)", path=str(path))
    from core.backbones import BackboneSpec, load_backbone
    from core.backbones.weights import load_state_dict, store_imported

    load_backbone(BackboneSpec(arch=args.arch, weights=str(path)))  # verifies the file fits the architecture
    entry = store_imported(load_state_dict(path), args.arch, source=str(path.resolve()))
    print(f"imported {args.arch} weights sha256 {entry['sha256']} -> {entry['file']}")
    return 0


def cmd_models_use(args) -> int:
    from core.models import set_default_model

    set_default_model(args.model_dir)
    print(f"default model: {Path(args.model_dir).resolve()}")
    return 0


def cmd_cases_list(args) -> int:
    from core.cases import CaseStore

    with CaseStore() as store:
        for c in store.list(limit=args.limit, search=args.search):
            verdict = "ALTERED" if c.altered else c.verdict     # edited outside ffd: its verdict is not trusted
            print(f"#{c.id:<5d} {c.created_at}  {verdict:8s} {c.sha256[:16]}  {c.case_number or '-':12s} {c.path}")
        print(f"{store.count()} saved analyses in {store.path}")
    return 0


def cmd_cases_move_aside(args) -> int:
    """Only a store that cannot be opened is moved: a healthy one stays where it is."""
    from core.cases import CaseStore, CaseStoreDamagedError, default_path, move_aside

    path = default_path()
    if not path.exists():
        print(f"no case store at {path}: nothing to move")
        return 0
    try:
        with CaseStore(path) as store:
            healthy = store.integrity_check() == "ok"
    except CaseStoreDamagedError:
        healthy = False
    if healthy:
        print(f"the case store {path} opens and checks fine: left in place")
        return 0
    moved = move_aside(path)
    with CaseStore(path):
        pass
    print(f"damaged case store moved aside to {moved}; a new, empty case store was started at {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
