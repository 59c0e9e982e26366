"""What names a backbone: an architecture plus where its weights come from. Plain data (no torch), so a model
folder can be checked before the libraries that load it are imported."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class BackboneSpec:
    """What the user asked for: `ViT-L-14:openai`, `ffd-compact@/path/weights.safetensors`, or just `ViT-B-16`."""

    arch: str
    pretrained: str | None = None
    weights: str | None = None
    sha256: str | None = None

    @classmethod
    def parse(cls, text: str) -> BackboneSpec:
        if "@" in text:
            arch, path = text.split("@", 1)
            return cls(arch=arch, weights=path)
        if ":" in text:
            arch, tag = text.split(":", 1)
            return cls(arch=arch, pretrained=tag)
        return cls(arch=text)

    def to_dict(self) -> dict:
        return asdict(self)
