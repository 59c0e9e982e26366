"""Resumable training state: optimizer, scheduler, epoch, RNG, best score, in safetensors + JSON (no pickle)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from core.atomic import atomic_path, atomic_write_text
from core.errors import ModelError


def save_state(run_dir: Path, detector, optimizer, scheduler, info: dict) -> None:
    """Write `last.safetensors` (detector + optimizer tensors) and `trainer_state.json` (the commit marker)."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in detector.own_state_dict().items()}
    opt = optimizer.state_dict()
    scalars = {}
    for pid, slots in opt["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{name}"] = value
    tensors["rng.torch"] = torch.get_rng_state()
    with atomic_path(run_dir / "last.safetensors") as tmp:
        save_file(tensors, str(tmp))
    state = {**info, "optimizer_groups": opt["param_groups"], "optimizer_scalars": scalars,
             "scheduler": scheduler.state_dict()}
    atomic_write_text(run_dir / "trainer_state.json", json.dumps(state, indent=1))


def load_state(run_dir: Path, detector, optimizer, scheduler) -> dict:
    try:
        info = json.loads((run_dir / "trainer_state.json").read_text())
        tensors = load_file(str(run_dir / "last.safetensors"))
    except (OSError, json.JSONDecodeError, Exception) as exc:
        raise ModelError(f"cannot resume: training state is unreadable ({exc})", path=str(run_dir)) from None
    model_state = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    detector.load_state_dict(model_state, strict=False)
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for key, value in info["optimizer_scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    groups = info["optimizer_groups"]
    for saved, current in zip(groups, optimizer.param_groups, strict=False):
        # the run's hyperparameters, this process's kernel choice (a run saved unfused resumes fused)
        saved.update({key: current[key] for key in ("foreach", "fused") if key in current})
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    scheduler.load_state_dict(info["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    return info
