"""Face crops of a split, in memory, at a detector's input size, with labels and the video each came from.

Self-blended pseudo-fakes are made here from the split's own real crops (never across splits), with a fixed seed, so
they can be cached like any other example and the SBI test set is made of held-out faces only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from core.detectors.base import Labels
from core.errors import BadInputError, NoFaceError
from core.faces.align import centre_offset, fit_face, jpeg_round_trip
from core.training.dataset import Sample, media_kind
from core.training.facecache import FaceCache
from core.training.jpeg_source import read_jpeg_face
from core.training.sbi import METHOD as SBI_METHOD
from core.training.sbi import self_blend

Store = Callable[[np.ndarray], np.ndarray]  # a fresh blend -> the blend as its real face was stored and cached


@dataclass(frozen=True)
class BlendSource:
    """What a self-blend is made from, kept so ``Examples.reblend`` can make a fresh one."""

    row: int
    face: np.ndarray                 # the real face (the file's own pixels when stored like its file)
    landmarks: np.ndarray | None     # in ``face`` pixels
    store: Store


@dataclass
class Examples:
    crops: torch.Tensor                 # N x 3 x S x S uint8 (converted to float per batch)
    fake: torch.Tensor                  # N long
    methods: list[str | None] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)   # source file of each crop (video-level metrics)
    groups: list[str] = field(default_factory=list)   # scene of each crop: its group, else its file (paired batches)
    blend_sources: list[BlendSource] = field(default_factory=list)   # when kept (gather(keep_blend_sources=True))
    fit: str = "resize"

    def __len__(self) -> int:
        return len(self.fake)

    def labels(self, index: torch.Tensor) -> Labels:
        idx = index.tolist()
        return Labels(fake=self.fake[index], method=[self.methods[i] for i in idx])

    def faces(self, index: torch.Tensor, device: torch.device) -> torch.Tensor:
        return self.crops[index].to(device).float().div_(255.0)

    def mirrored(self) -> Examples:
        """The same faces mirrored left to right (the second view of a `mirror` model's scores)."""
        return replace(self, crops=self.crops.flip(-1))

    def reblend(self, rng: np.random.Generator) -> int:
        """Replace every self-blend with a fresh one from the same real face: SBI's point is an endless variety
        of blends (mask shape, boundary, colour and sharpness mismatch); one fixed blend per face is learnt by heart.
        Returns how many were replaced (a face the blend cannot be made from keeps its previous blend)."""
        size, done = self.crops.shape[-1], 0
        for source in self.blend_sources:
            try:
                blended = source.store(self_blend(source.face, source.landmarks, rng)[0])
            except NoFaceError:
                continue
            self.crops[source.row] = torch.from_numpy(fit_face(blended, size, self.fit)).permute(2, 0, 1)
            done += 1
        return done

    def repeated(self, copies: dict[str, int]) -> Examples:
        """These examples with every crop of a method in `copies` appearing that many times in all: a small source
        (129 Stable Diffusion training portraits beside ~7,800 other faces) otherwise weighs too little in the loss
        for a detector to learn it. Each copy is a scene of its own, so a batch does not hold one face several times
        (and a detector trained on pixels draws each copy's augmentation on its own). Self-blends are refused: they
        are renewed in place (``reblend``)."""
        check_copies(copies)
        absent = sorted(set(copies) - set(self.methods))
        if absent:
            raise BadInputError(f"oversample: no training crops of method {', '.join(absent)} "
                                f"(methods here: {', '.join(sorted({m for m in self.methods if m}))})")
        extra = [(i, k) for i, method in enumerate(self.methods) for k in range(1, copies.get(method or "", 1))]
        if not extra:
            return self
        rows = [i for i, _ in extra]
        index = torch.tensor(rows, dtype=torch.long)
        return Examples(torch.cat([self.crops, self.crops[index]]), torch.cat([self.fake, self.fake[index]]),
                        self.methods + [self.methods[i] for i in rows], self.videos + [self.videos[i] for i in rows],
                        self.groups + [f"{self.groups[i]}#copy{k}" for i, k in extra], self.blend_sources, self.fit)

    def subset(self, mask: np.ndarray) -> Examples:
        keep = np.flatnonzero(mask)
        return Examples(self.crops[keep], self.fake[keep], [self.methods[i] for i in keep],
                        [self.videos[i] for i in keep], [self.groups[i] for i in keep])

    def grouped_order(self, generator: torch.Generator) -> torch.Tensor:
        """A shuffled order that keeps each scene's crops next to each other, so a batch holds a real face and the
        fakes made from it (or its self-blend) together: the gradient then sees what differs within a scene (the
        manipulation) instead of what tells scenes apart."""
        members: dict[str, list[int]] = {}
        for i, group in enumerate(self.groups):
            members.setdefault(group, []).append(i)
        scenes = list(members.values())
        order = [scenes[int(k)] for k in torch.randperm(len(scenes), generator=generator)]
        return torch.tensor([i for scene in order for i in scene], dtype=torch.long)


def check_copies(copies: dict) -> None:
    """Refuse an oversampling setting before any data is read: a dict of fake methods (not self-blends, which are
    renewed in place) to whole counts >= 1."""
    if (not isinstance(copies, dict) or "sbi" in copies
            or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in copies.values())):
        raise BadInputError(f"oversample takes fake methods other than sbi with whole counts >= 1, got {copies!r}")


def gather(samples: list[Sample], cache: FaceCache, size: int, *, sbi_copies: int = 0, seed: int = 0,
           max_crops_per_file: int | None = None, stored_as: tuple[int, int] | None = None,
           keep_blend_sources: bool = False, fit: str = "resize") -> Examples:
    """All cached crops of `samples` brought to `size` (``core.faces.align.fit_face``: resized, or their middle
    pixels with ``fit="centre"``), plus `sbi_copies` pseudo-fakes per real crop.

    ``stored_as=(side, quality)``: the faces were stored as JPEG, so each pseudo-fake is stored as its real face
    was before it joins them. Otherwise a pseudo-fake is the one face whose blended region lacks the compression
    traces every real carries, and a detector learns that instead of the blend (measured on the v2 default model,
    FF++ test reals: self-blend AUC 0.95 as made, 0.61 once stored). A face detected in a frame was stored by the
    analysis pipeline: the blend is resized to ``side`` and round-tripped at ``quality`` (the faces must be cached
    at ``side``, as ``CacheSettings`` does when given the JPEG setting: a blend up-scaled to be stored carries a
    resampling trace its reals lack). A face file read whole (``assume_aligned``) that is a JPEG was stored as
    that file: the blend is made from the file's own pixels, encoded with its own tables
    (``core.training.jpeg_source``) and then resized to the cache side like its real face.

    ``keep_blend_sources``: keep each blend's real face and landmarks so ``Examples.reblend`` can renew it.
    """
    rng = np.random.default_rng(seed)
    crops, fake, methods, videos, groups, sources = [], [], [], [], [], []
    for sample in samples:
        scene = f"group:{sample.group}" if sample.group else sample.path
        faces = cache.crops(sample)[:max_crops_per_file]
        marks = cache.landmarks(sample)[:max_crops_per_file] if sbi_copies and sample.label == 0 else None
        for i, face in enumerate(faces):
            crops.append(fit_face(face, size, fit))
            fake.append(sample.label)
            methods.append(sample.method if sample.label else None)
            videos.append(sample.path)
            groups.append(scene)
            if marks is None:
                continue
            landmarks = marks[i] if not np.isnan(marks[i]).any() else None
            source, source_marks, store = _blend_source(sample.path, face, landmarks, stored_as,
                                                        cache.settings.assume_aligned)
            for copy in range(sbi_copies):
                try:
                    blended = store(self_blend(source, source_marks, rng)[0])
                except NoFaceError:
                    break
                if keep_blend_sources:
                    sources.append(BlendSource(len(crops), source, source_marks, store))
                crops.append(fit_face(blended, size, fit))
                fake.append(1)
                methods.append(SBI_METHOD)
                videos.append(f"{sample.path}#sbi{copy}")
                groups.append(scene)
    if not crops:
        return Examples(torch.zeros(0, 3, size, size, dtype=torch.uint8), torch.zeros(0, dtype=torch.long))
    stacked = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    return Examples(stacked, torch.tensor(fake, dtype=torch.long), methods, videos, groups, sources, fit)


def _blend_source(path: str, face: np.ndarray, landmarks: np.ndarray | None, stored_as: tuple[int, int] | None,
                  whole_file: bool) -> tuple[np.ndarray, np.ndarray | None, Store]:
    """The face a blend is made from, its landmarks, and how the blend is stored (see ``gather``)."""
    side = face.shape[0]
    if stored_as is None:
        return face, landmarks, lambda blended: blended
    found = read_jpeg_face(path) if whole_file and media_kind(path) == "image" else None
    if found is None:
        return face, landmarks, lambda blended: jpeg_round_trip(fit_face(blended, stored_as[0]), stored_as[1])
    pixels, storage = found
    scaled = None if landmarks is None else landmarks * np.float32(pixels.shape[0] / side)
    return pixels, scaled, lambda blended: fit_face(storage.store(blended), side)


def block_windows(side: int, size: int, jitter: int) -> tuple[int, list[int]]:
    """Where ``size`` px windows may start inside the middle ``size + 2 * jitter`` px of a ``side`` px stored face
    (``fit_face(..., "centre")``): every whole 8 px block step up to ``jitter`` either way of the window an analysis
    cuts (``centre_offset(side, size)``), so each window keeps the face's JPEG grid where the analysis has it.
    Returns (the window side, the start offsets)."""
    middle = centre_offset(side, size) - centre_offset(side, size + 2 * jitter)
    starts = [middle + step for step in range(-jitter, jitter + 1, 8) if 0 <= middle + step <= 2 * jitter]
    return size, starts


def cut_windows(crops: torch.Tensor, windows: tuple[int, list[int]], rng: np.random.Generator) -> torch.Tensor:
    """N x 3 x S x S crops -> N x 3 x size x size windows, each at its own random start (rows and columns)."""
    size, starts = windows
    ys, xs = rng.choice(starts, len(crops)), rng.choice(starts, len(crops))
    return torch.stack([c[:, y:y + size, x:x + size] for c, y, x in zip(crops, ys, xs, strict=True)])
