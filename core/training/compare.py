"""Is a candidate default model better than the shipped one, or only different by chance? Both are scored face by
face on the recipe's test sets and every headline figure gets a paired bootstrap interval of the difference.

A candidate must beat the model before it on every figure, but a test set of ~100 fakes per method moves an AUC by
about 0.02 between equally good models: this says which differences the test faces can resolve at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import BadInputError
from core.training.default_model import EVAL_SBI_COPIES, write_eval_sets
from core.training.metrics import paired_auc_difference, subset_masks


def figure_masks(set_name: str, fake: np.ndarray, methods: np.ndarray) -> dict[str, np.ndarray]:
    """Which faces each headline figure of `default_model.headline` is measured on, per test set (the FF++ and
    FFHQ sets always carry self-blends: EVAL_SBI_COPIES)."""
    masks = subset_masks(fake, methods)
    if set_name == "ffpp_faces":
        return {"ffpp_pooled": masks["own"], "sbi_ffpp": masks["sbi"],
                **{f"ffpp_{m}": mask for m, mask in masks["methods"].items()}}
    if set_name == "ffhq_stylegan":
        return {"ffhq_stylegan": masks["own"], "sbi_ffhq": masks["sbi"]}
    return {"sdfd_vs_real": np.ones_like(fake, dtype=bool)}


def compare_models(work: Path, baseline: Path, candidate: Path, device: str = "auto", log=print,
                   cache_dir: Path | None = None, resamples: int = 2000) -> dict[str, dict[str, dict]]:
    """{detector: {figure: {"a", "b", "diff", "low", "high"}}}: candidate minus baseline, 95 % paired interval.
    `work` holds the recipe's data.csv (its pinned test split); both models must share that split."""
    from core.training.evaluate import evaluate

    table: dict[str, dict[str, dict]] = {}
    for set_name, subset in write_eval_sets(work).items():
        log(f"[compare] {set_name}")
        try:
            runs = [evaluate(subset, model, device=device, aligned=True, sbi_copies=EVAL_SBI_COPIES[set_name],
                             cache_dir=cache_dir, keep_face_scores=True) for model in (baseline, candidate)]
        except BadInputError as exc:  # as in measure: a quick run on a few files may hold no test faces of a set
            log(f"[compare] {set_name} skipped: {exc}")
            continue
        if runs[0]["faces"] != runs[1]["faces"] or runs[0]["split"] != "test" or runs[1]["split"] != "test":
            raise BadInputError(f"{set_name}: the two models were not scored on the same held-out test faces "
                                "(another split or another way of cutting faces)")
        fake = np.array(runs[0]["faces"]["fake"])
        methods = np.array([m or "" for m in runs[0]["faces"]["methods"]], dtype=object)
        for detector in sorted(set(runs[0]["test"]) & set(runs[1]["test"])):
            a, b = (np.array(run["test"][detector]["face_scores"]) for run in runs)
            for figure, mask in figure_masks(set_name, fake, methods).items():
                table.setdefault(detector, {})[figure] = paired_auc_difference(fake[mask], a[mask], b[mask],
                                                                                resamples=resamples)
    return table


def verdict(row: dict) -> str:
    if row["low"] > 0:
        return "better"
    if row["high"] < 0:
        return "worse"
    return "within noise"


def format_table(table: dict, baseline: Path, candidate: Path) -> str:
    lines = [f"test AUC: A = {baseline}, B = {candidate}; B - A with its 95 % paired bootstrap interval", "",
             "| detector | figure | A | B | B - A | interval | verdict |", "|---|---|---|---|---|---|---|"]
    for detector, figures in table.items():
        for figure, r in figures.items():
            lines.append(f"| {detector} | {figure} | {r['a']:.3f} | {r['b']:.3f} | {r['diff']:+.3f} | "
                         f"[{r['low']:+.3f}, {r['high']:+.3f}] | {verdict(r)} |")
    return "\n".join(lines)
