"""AnalysisResult: the one JSON-serialisable record of an analysis.

Everything the GUI, the PDF report and the case store show comes from it, so a stored analysis can be reopened
without recomputing. Images worth showing later (face crops, attention maps, SRM patches) travel as encoded PNG/JPEG
bytes in `artifacts`, which the plain JSON export leaves out unless asked.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field, replace

SCHEMA_VERSION = 1


@dataclass
class FaceRecord:
    box: list[float]                  # x0, y0, x1, y1 in frame pixels
    identity: int
    score: float                      # p_fake from this detector
    similarities: dict[str, float] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)  # e.g. {"crop_matrix": 2x3 frame -> stored crop affine}
    key: str = ""                     # artifact key, shared by every detector's record of the same face
    patch_box: list[int] | None = None  # MFCLIP's richest patch [x0, y0, x1, y1] in detector-crop pixels


@dataclass
class FrameRecord:
    index: int
    time_s: float
    faces: list[FaceRecord] = field(default_factory=list)


@dataclass
class IdentityScore:
    id: int
    score: float
    frames: int


@dataclass
class DetectorResult:
    model: dict                       # {"name", "arch", "weights_sha256", "detector_sha256", ...}
    video_score: float | None
    verdict: str                      # "real" | "fake" | "no-face"
    threshold: float
    identities: list[IdentityScore] = field(default_factory=list)
    frames: list[FrameRecord] = field(default_factory=list)

    def scores_by_frame(self) -> dict[int, list[float]]:
        return {fr.index: [f.score for f in fr.faces] for fr in self.frames}

    def face_preparation(self) -> str:
        """How each face was cut and scored: the model's settings (model.json) that change scores beside its files."""
        model, jpeg = self.model or {}, (self.model or {}).get("crop_jpeg")
        return "; ".join([
            *([f"cut at {model['crop_margin']}x the face detector's box"] if "crop_margin" in model else []),
            *([f"stored as {jpeg['side']} px JPEG of quality {jpeg['quality']}"] if jpeg else []),
            "scored as it is and as its mirror image, the two averaged" if model.get("mirror") else "scored as cut"])


@dataclass
class AnalysisResult:
    file: dict                        # {"path", "sha256", "size", "media": {...}}
    settings: dict
    detectors: dict[str, DetectorResult] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    software: dict = field(default_factory=dict)
    started_at: str = ""
    duration_s: float = 0.0
    sampled_frames: int = 0
    frames_with_faces: int = 0
    schema: int = SCHEMA_VERSION
    artifacts: dict[str, dict[str, bytes]] = field(default_factory=dict)  # face key -> name -> PNG/JPEG bytes

    @property
    def verdict(self) -> str:
        """Fake if any detector says fake; the per-detector verdicts are what a report should show."""
        verdicts = [d.verdict for d in self.detectors.values()]
        return "fake" if "fake" in verdicts else ("real" if "real" in verdicts else "no-face")

    def to_dict(self, include_artifacts: bool = False) -> dict:
        data = asdict(replace(self, artifacts={}))  # asdict would deep-copy every image otherwise
        data.pop("artifacts")
        if include_artifacts:
            data["artifacts"] = {key: {name: base64.b64encode(blob).decode("ascii") for name, blob in items.items()}
                                 for key, items in self.artifacts.items()}
        return data

    def to_json(self, include_artifacts: bool = False, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(include_artifacts), indent=indent)

    @classmethod
    def from_dict(cls, data: dict) -> AnalysisResult:
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"unsupported analysis schema {data.get('schema')!r} (this app reads {SCHEMA_VERSION})")
        detectors = {
            name: DetectorResult(
                model=d["model"], video_score=d["video_score"], verdict=d["verdict"], threshold=d["threshold"],
                identities=[IdentityScore(**i) for i in d["identities"]],
                frames=[FrameRecord(index=fr["index"], time_s=fr["time_s"],
                                    faces=[FaceRecord(**f) for f in fr["faces"]]) for fr in d["frames"]],
            )
            for name, d in data.get("detectors", {}).items()
        }
        artifacts = {key: {name: base64.b64decode(blob) for name, blob in items.items()}
                     for key, items in data.get("artifacts", {}).items()}
        plain = {k: v for k, v in data.items() if k not in ("detectors", "artifacts")}
        return cls(**plain, detectors=detectors, artifacts=artifacts)

    @classmethod
    def from_json(cls, text: str) -> AnalysisResult:
        return cls.from_dict(json.loads(text))
