"""Backbone resolution: shipped configs, offline behaviour, imported weights, refusal of wrong or random weights."""

import time

import pytest
import torch
from safetensors.torch import save_file

from core.backbones import load_backbone, register_shipped_configs
from core.backbones.backbone import BackboneSpec
from core.backbones.weights import imported_weights
from core.cli import main
from core.errors import ModelError
from tests.conftest import TINY_ARCH


def _save_random_weights(path, arch=TINY_ARCH, seed=0):
    torch.manual_seed(seed)
    model = load_backbone(arch, allow_random=True).model
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model


def test_shipped_configs_are_registered_with_open_clip():
    assert TINY_ARCH in register_shipped_configs()
    backbone = load_backbone(TINY_ARCH, allow_random=True)
    assert backbone.image_size == 64 and backbone.vision_layers == 6 and backbone.source == "random-init"
    assert not any(p.requires_grad for p in backbone.model.parameters())


def test_backbones_of_one_architecture_share_a_tokenizer_of_its_context_length():
    first, second = load_backbone(TINY_ARCH, allow_random=True), load_backbone(TINY_ARCH, allow_random=True)
    assert first.tokenizer is second.tokenizer          # its BPE table is parsed once per process
    tokens = first.tokenize(["a photo of a real face"])
    assert tokens.shape == (1, 32) and tokens[0, 0] != tokens[0, -1]   # the tiny config's 32 tokens, not ViT's 77
    assert load_backbone("ffd-dct", allow_random=True).tokenize(["a face"]).shape == (1, 77)


def test_random_backbone_is_refused_outside_tests():
    with pytest.raises(ModelError, match="randomly initialised"):
        load_backbone(TINY_ARCH)


def test_offline_pretrained_name_fails_fast_and_names_import(monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-cache")  # nothing cached
    started = time.monotonic()
    with pytest.raises(ModelError) as info:
        load_backbone("ViT-B-32:openai")
    assert time.monotonic() - started < 5
    assert "ffd models import" in str(info.value) and "ViT-B-32" in str(info.value)


def test_offline_resolution_fails_fast_with_real_network_probe(monkeypatch):
    """Even without the FFD_OFFLINE shortcut, an unreachable hub is detected in seconds (a closed local port
    stands in for the hub, so the test sends nothing off this machine)."""
    monkeypatch.delenv("FFD_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-cache")
    started = time.monotonic()
    with pytest.raises(ModelError, match="ffd models import"):
        load_backbone("ViT-B-32:openai")
    assert time.monotonic() - started < 5


def test_unknown_pretrained_tag_lists_known_tags():
    with pytest.raises(ModelError, match="openai"):
        load_backbone("ViT-B-32:no-such-tag")


def test_weights_file_loads_with_hash(tmp_path):
    model = _save_random_weights(tmp_path / "w.safetensors")
    backbone = load_backbone(BackboneSpec(TINY_ARCH, weights=str(tmp_path / "w.safetensors")))
    assert len(backbone.weights_sha256) == 64
    for (k, a), b in zip(model.state_dict().items(), backbone.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_hash_mismatch_is_refused(tmp_path):
    _save_random_weights(tmp_path / "w.safetensors")
    with pytest.raises(ModelError, match="does not match"):
        load_backbone(BackboneSpec(TINY_ARCH, weights=str(tmp_path / "w.safetensors"), sha256="0" * 64))


def test_cli_import_verifies_and_stores_weights(tmp_path, capsys):
    _save_random_weights(tmp_path / "w.safetensors")
    assert main(["models", "import", str(tmp_path / "w.safetensors"), "--arch", TINY_ARCH]) == 0
    [entry] = imported_weights()
    assert entry["arch"] == TINY_ARCH and entry["sha256"] in capsys.readouterr().out
    # Now the bare architecture name resolves to the imported weights.
    assert load_backbone(TINY_ARCH).weights_sha256 == entry["sha256"]
    assert main(["models", "list"]) == 0
    assert entry["sha256"][:16] in capsys.readouterr().out


def test_cli_import_refuses_weights_of_another_architecture(tmp_path, capsys):
    _save_random_weights(tmp_path / "w.safetensors")
    assert main(["models", "import", str(tmp_path / "w.safetensors"), "--arch", "ViT-B-32"]) == 4
    err = capsys.readouterr().err
    assert "do not fit architecture ViT-B-32" in err and "Traceback" not in err
    assert imported_weights() == []


def test_tampered_and_pickled_files_are_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    _save_random_weights(path)
    data = bytearray(path.read_bytes())
    data[4:12] = b"\xff" * 8  # corrupt the header length
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="cannot read weights"):
        load_backbone(BackboneSpec(TINY_ARCH, weights=str(path)))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    pickled = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, pickled)
    with pytest.raises(ModelError):
        load_backbone(BackboneSpec(TINY_ARCH, weights=str(pickled)))
