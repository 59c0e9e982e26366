"""Pick the compute device (CUDA, then Apple MPS, then CPU) and the matching autocast context."""

from __future__ import annotations

import contextlib

import torch

from core.errors import FFDError


def select_device(preference: str = "auto") -> torch.device:
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except RuntimeError:
        raise FFDError(f"unknown device {preference!r} (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FFDError("device 'cuda' was requested but no CUDA GPU is available; use --device auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise FFDError("device 'mps' was requested but Apple MPS is not available; use --device auto or cpu")
    return device


def autocast(device: torch.device):
    """Mixed precision on GPUs (bf16 where supported, else fp16); full precision on CPU, where it is not faster."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    if device.type == "mps":
        return torch.autocast("mps", dtype=torch.float16)
    return contextlib.nullcontext()


def describe_machine() -> str:
    """CPU model, core count, GPU and torch version: what every reported timing or training figure must name."""
    import os
    import platform
    from pathlib import Path

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}, threads {torch.get_num_threads()}"
