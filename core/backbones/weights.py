"""Backbone weights: hashing, safe loading, the user's imported-weights store, and the open_clip cache.

Untrusted files are never unpickled: safetensors is preferred and anything else goes through
`torch.load(weights_only=True)`. Network access is probed with a short timeout so an offline machine gets a clear
answer within seconds instead of a minute of retries.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from core.atomic import atomic_path, atomic_write_text
from core.digest import sha256_file
from core.errors import ModelError
from core.paths import data_dir

NETWORK_PROBE_TIMEOUT_S = 3.0


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a weights file without executing pickled code; raise ModelError on anything unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("weights file not found", path=str(path))
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, RuntimeError, OSError, ValueError, EOFError) as exc:
        # torch.load(weights_only=True) refuses pickles that carry code: that is a tampered or foreign file.
        raise ModelError(f"cannot read weights ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
                         path=str(path)) from None
    except Exception as exc:  # pickle.UnpicklingError and friends from foreign formats
        raise ModelError(f"refusing to load weights: {type(exc).__name__}", path=str(path)) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError("file does not hold a plain tensor state dict", path=str(path))
    return {k.removeprefix("module."): v for k, v in state.items()}


# --- the imported-weights store ------------------------------------------------------------------------------------


def _store_dir() -> Path:
    path = data_dir() / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _index_path() -> Path:
    return _store_dir() / "index.json"


def imported_weights() -> list[dict]:
    """Entries {arch, sha256, file, source, imported_at} of weights the user imported, newest last."""
    index = _index_path()
    if not index.exists():
        return []
    try:
        return json.loads(index.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"imported-weights index is damaged ({exc})", path=str(index)) from None


def find_imported(arch: str, sha256: str | None = None) -> dict | None:
    for entry in reversed(imported_weights()):
        if entry["arch"] == arch and (sha256 is None or entry["sha256"].startswith(sha256)):
            return entry
    return None


def store_imported(state: dict[str, torch.Tensor], arch: str, source: str) -> dict:
    """Save verified weights as safetensors under the data dir and record them in the index (both atomic)."""
    target_tmp = _store_dir() / f".{arch}.incoming.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(target_tmp))
    digest = sha256_file(target_tmp)
    target = _store_dir() / f"{arch}-{digest[:16]}.safetensors"
    with atomic_path(target) as tmp:
        shutil.move(target_tmp, tmp)
    entry = {"arch": arch, "sha256": digest, "file": str(target), "source": source,
             "imported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    entries = [e for e in imported_weights() if e["sha256"] != digest] + [entry]
    atomic_write_text(_index_path(), json.dumps(entries, indent=2))
    return entry


# --- open_clip pretrained weights ----------------------------------------------------------------------------------


def hub_host() -> tuple[str, int]:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    return parsed.hostname or "huggingface.co", parsed.port or (443 if parsed.scheme != "http" else 80)


def network_reachable(host: str, port: int = 443, timeout: float = NETWORK_PROBE_TIMEOUT_S) -> bool:
    """One TCP connect with a short timeout: tells 'offline' apart in seconds."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("FFD_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def cached_pretrained_file(pretrained_cfg: dict, cache_dir: str | None = None) -> str | None:
    """Path of an already-downloaded open_clip weights file for this pretrained config, or None."""
    from huggingface_hub import try_to_load_from_cache

    if "file" in pretrained_cfg:
        return pretrained_cfg["file"] if Path(pretrained_cfg["file"]).is_file() else None
    hub = pretrained_cfg.get("hf_hub", "")
    if hub:
        repo_id, filename = os.path.split(hub)
        for name in ("open_clip_model.safetensors", filename or "open_clip_pytorch_model.bin"):
            found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
            if isinstance(found, str):
                return found
    url = pretrained_cfg.get("url", "")
    if url:
        candidate = Path(cache_dir or Path.home() / ".cache" / "clip") / os.path.basename(url)
        if candidate.is_file():
            return str(candidate)
    return None
