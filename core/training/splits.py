"""Train / validation / test splits that never leak a person or a source video across splits.

Samples sharing any grouping key (``core.training.dataset.grouping_keys``: identity, group, FaceForensics++
``A`` / ``A_B`` video names) are joined with union-find into connected components, so a manipulated video,
its target and its source all land in the same split; a component is never divided.

Assignment is deterministic for a seed: components are put in a canonical order (by their first path), shuffled
with ``numpy.random.default_rng(seed)``, stably sorted largest first, then each goes greedily to the split where
it best closes the gap to the target counts *per label* (squared error per label, normalised by that label's
total so a rare class counts as much as a common one). With many small components the fractions come out
nearly exact for both labels; a few huge components (one person in most of the videos) cannot be balanced, and
``split_report`` shows what happened. A split fixed by the data (``Sample.split``, e.g. FaceForensics++'s own
test list) is kept: a component holding a "test" sample goes to test, one holding a "val" sample to validation,
one holding only "train" samples to train or validation (validation is carved out of the authors' training part),
and conflicting pins in one component are an error.

``save_split`` / ``load_split`` store a split as JSON (written atomically) with paths relative to a data root,
so a split can be saved with a training run and reused on another machine where the data lives elsewhere.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from core.atomic import atomic_write_text
from core.errors import BadInputError
from core.training.dataset import LABEL_NAMES, Sample, grouping_keys, parse_label

SPLIT_NAMES = ("train", "val", "test")
FORMAT = "ffd-split"
VERSION = 1
_MAX_LISTED = 5


class UnionFind:
    """Disjoint sets over 0..n-1 (the smaller index is a set's root): samples tied by shared keys, scenes."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:  # path compression
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def components(samples: Sequence[Sample]) -> list[list[Sample]]:
    """Samples joined by shared grouping keys; each component sorted by path, components by first path."""
    ordered = sorted(samples, key=lambda s: s.path)
    uf = UnionFind(len(ordered))
    owner: dict[str, int] = {}
    for i, sample in enumerate(ordered):
        for key in grouping_keys(sample):
            if key in owner:
                uf.union(owner[key], i)
            else:
                owner[key] = i
    groups: dict[int, list[Sample]] = {}
    for i, sample in enumerate(ordered):
        groups.setdefault(uf.find(i), []).append(sample)
    return sorted(groups.values(), key=lambda c: c[0].path)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or not all(math.isfinite(f) and f >= 0 for f in values):
        raise ValueError(f"fractions must be three non-negative numbers (train, val, test), got {fractions!r}")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {fractions!r} (sum {sum(values):.6g})")
    return values  # type: ignore[return-value]


def split_samples(
    samples: Iterable[Sample], fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0
) -> dict[str, list[Sample]]:
    """{"train", "val", "test"} -> samples (sorted by path); no grouping key spans two splits."""
    samples = list(samples)
    frac = _check_fractions(fractions)
    dupes = [p for p, n in Counter(s.path for s in samples).items() if n > 1]
    if dupes:
        raise ValueError(f"{len(dupes)} sample path(s) listed more than once, e.g. {dupes[0]}")
    comps = components(samples)
    allowed = [_allowed_splits(comp) for comp in comps]
    rng = np.random.default_rng(seed)
    order = [(comps[i], allowed[i]) for i in rng.permutation(len(comps))]
    order.sort(key=lambda item: len(item[0]), reverse=True)  # stable: equal sizes keep the seeded order

    totals = np.array([sum(s.label == lab for s in samples) for lab in (0, 1)], dtype=np.float64)
    target = np.outer(frac, totals)  # split x label
    weight = 1.0 / np.maximum(totals, 1.0) ** 2
    assigned = np.zeros_like(target)
    out: dict[str, list[Sample]] = {name: [] for name in SPLIT_NAMES}
    for comp, where in order:
        counts = np.array([sum(s.label == lab for s in comp) for lab in (0, 1)], dtype=np.float64)
        before = ((assigned - target) ** 2 * weight).sum(axis=1)
        after = ((assigned + counts - target) ** 2 * weight).sum(axis=1)
        cost = after - before
        cost[np.asarray(frac) == 0] = np.inf  # a split asked to be empty stays empty
        cost[[name not in where for name in SPLIT_NAMES]] = np.inf
        if np.isinf(cost).all():  # pinned to a split the fractions leave empty: the pin wins
            cost = np.array([0.0 if name in where else np.inf for name in SPLIT_NAMES])
        best = int(np.argmin(cost))
        assigned[best] += counts
        out[SPLIT_NAMES[best]].extend(comp)
    return {name: sorted(items, key=lambda s: s.path) for name, items in out.items()}


def _allowed_splits(comp: Sequence[Sample]) -> tuple[str, ...]:
    pins = {s.split for s in comp if s.split}
    if "test" in pins and len(pins) > 1:  # a tested sample tied to a trained-on one: the data's split leaks
        raise ValueError(f"samples that must stay together are pinned to different splits ({sorted(pins)}), "
                         f"e.g. {comp[0].path}")
    if "test" in pins:
        return ("test",)
    if "val" in pins:
        return ("val",)
    if "train" in pins:
        return ("train", "val")
    return SPLIT_NAMES


def check_no_leak(split: dict[str, Sequence[Sample]]) -> None:
    """Raise ValueError if any grouping key (identity, group, FF++ id, file) occurs in two splits."""
    first: dict[str, str] = {}
    clashes: list[str] = []
    for name, items in split.items():
        for sample in items:
            for key in grouping_keys(sample):
                where = first.setdefault(key, name)
                if where != name:
                    clashes.append(f"{key} in {where} and {name}")
    if clashes:
        more = f" (+{len(clashes) - _MAX_LISTED} more)" if len(clashes) > _MAX_LISTED else ""
        raise ValueError("split leaks across splits: " + "; ".join(clashes[:_MAX_LISTED]) + more)


def split_report(split: dict[str, Sequence[Sample]]) -> dict[str, dict]:
    """Per split (and "all"): counts per label, total, per-method fake counts, number of components."""
    report: dict[str, dict] = {}
    everything: list[Sample] = []
    for name, items in split.items():
        report[name] = _counts(items)
        everything.extend(items)
    report["all"] = _counts(everything)
    return report


def _counts(items: Sequence[Sample]) -> dict:
    labels = Counter(s.label for s in items)
    methods = Counter(s.method or "unknown" for s in items if s.label == 1)
    return {
        "real": labels.get(0, 0),
        "fake": labels.get(1, 0),
        "total": len(items),
        "methods": dict(sorted(methods.items())),
        "components": len(components(items)),
    }


# ----------------------------------------------------------------------------------------------- persistence


def _default_root(split: dict[str, Sequence[Sample]]) -> str:
    parents = [os.path.dirname(s.path) for items in split.values() for s in items]
    if not parents:
        return os.getcwd()
    try:
        return os.path.commonpath(parents)
    except ValueError:  # different drives (Windows): no common root, paths stay absolute
        return os.path.dirname(parents[0])


def _relative(path: str, root: str) -> str:
    rel = os.path.relpath(path, root) if os.path.splitdrive(path)[0] == os.path.splitdrive(root)[0] else path
    if rel.startswith(".."):  # outside the root: keep it absolute rather than climbing out
        return Path(path).as_posix()
    return Path(rel).as_posix()


def save_split(
    split: dict[str, Sequence[Sample]],
    path: str | os.PathLike,
    root: str | os.PathLike | None = None,
    meta: dict | None = None,
) -> Path:
    """Write ``split`` as JSON (atomically). Paths are stored relative to ``root`` (default: the samples'
    common folder) so the file can be moved with the data; ``meta`` (seed, fractions, ...) is kept verbatim."""
    check_no_leak(split)
    root_str = os.path.abspath(root) if root is not None else _default_root(split)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "root": Path(root_str).as_posix(),
        "meta": meta or {},
        "report": split_report(split),
        "splits": {
            name: [
                {
                    "path": _relative(s.path, root_str),
                    "label": LABEL_NAMES[s.label],
                    "kind": s.kind,
                    **{k: v for k in ("method", "generator", "identity", "group") if (v := getattr(s, k))},
                }
                for s in items
            ]
            for name, items in split.items()
        },
    }
    path = Path(path)
    atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=False) + "\n")
    return path


def load_split(
    path: str | os.PathLike, root: str | os.PathLike | None = None, verify: bool = True
) -> dict[str, list[Sample]]:
    """Read a split saved by ``save_split``. Relative paths resolve against ``root`` (default: the root
    recorded in the file). ``verify`` checks that every file exists and that no group leaks."""
    path = Path(path)
    where = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError("split file does not exist", path=where) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"not a readable split file ({exc})", path=where) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BadInputError(f"not a split file (format is not {FORMAT!r})", path=where)
    if doc.get("version") != VERSION:
        raise BadInputError(f"unsupported split file version {doc.get('version')!r}", path=where)
    base = os.path.abspath(root) if root is not None else str(doc.get("root") or path.parent)
    out: dict[str, list[Sample]] = {}
    missing: list[str] = []
    try:
        for name, items in doc["splits"].items():
            samples = []
            for item in items:
                rel = item["path"]
                full = rel if os.path.isabs(rel) else os.path.abspath(os.path.join(base, rel))
                sample = Sample(
                    full, parse_label(item["label"]), method=item.get("method"),
                    generator=item.get("generator"), identity=item.get("identity"),
                    group=item.get("group"), kind=item.get("kind", "image"),
                )
                if verify and not os.path.isfile(full):
                    missing.append(full)
                samples.append(sample)
            out[name] = samples
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadInputError(f"malformed split file ({type(exc).__name__}: {exc})", path=where) from None
    if missing:
        more = f" (+{len(missing) - _MAX_LISTED} more)" if len(missing) > _MAX_LISTED else ""
        raise BadInputError(
            f"{len(missing)} file(s) of the split are missing under {base}: "
            + ", ".join(missing[:_MAX_LISTED]) + more + " (pass root= if the data moved)",
            path=where,
        )
    if verify:
        try:
            check_no_leak(out)
        except ValueError as exc:
            raise BadInputError(str(exc), path=where) from None
    return out
