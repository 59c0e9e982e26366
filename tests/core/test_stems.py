"""The convolutional forensic stem: open_clip architecture + stem spec, built by name, on real face images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from core.backbones import load_backbone
from core.backbones.stems import ForensicStem, apply_stem, stem_config
from core.detectors.registry import build_detector
from core.errors import ModelError
from tests.conftest import load_face_images

TINY_FORENSIC = "ffd-test-tiny-forensic"


def _clip_normalise(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
    std = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)
    return (x - mean) / std


def test_shipped_forensic_architecture_is_a_vit_with_the_stem_in_place_of_its_patch_embedding():
    assert stem_config("ffd-forensic")["type"] == "forensic"
    assert stem_config("ffd-compact") is None  # plain open_clip architectures are untouched
    backbone = load_backbone("ffd-forensic", allow_random=True)
    assert isinstance(backbone.model.visual.conv1, ForensicStem)
    assert backbone.image_size == 192 and backbone.vision_layers == 3
    faces = load_face_images("real", 2, 192)
    with torch.no_grad():
        tokens = backbone.model.visual.conv1(_clip_normalise(faces))
        image = backbone.model.encode_image(_clip_normalise(faces))
    assert tokens.shape == (2, 192, 12, 12)      # the patch grid a patch-16 ViT expects
    assert image.shape == (2, 256) and torch.isfinite(image).all()


def test_residuals_vanish_on_flat_images_and_answer_real_texture():
    stem = ForensicStem(width=48, patch_size=16, channels=8)
    flat = _clip_normalise(torch.full((1, 3, 32, 32), 0.4))
    assert stem.residuals(flat).abs().max() < 1e-4
    face = _clip_normalise(load_face_images("fake", 1, 64))
    residual = stem.residuals(face)
    assert residual.shape == (1, 6, 64, 64)
    assert residual.abs().max() <= 1.0 and residual.abs().mean() > 0.01
    npr = residual[:, 3:]
    assert npr[..., ::2, ::2].abs().max() < 1e-4   # x - up(down(x)) is zero on the kept pixels, by construction


def test_stem_needs_a_power_of_two_patch():
    with pytest.raises(ModelError, match="power-of-two"):
        ForensicStem(width=48, patch_size=14)


def test_weights_round_trip_through_a_file_and_both_detectors_build_on_it(tmp_path):
    torch.manual_seed(0)
    random = load_backbone(TINY_FORENSIC, allow_random=True)
    path = tmp_path / "backbone.safetensors"
    save_file({k: v.contiguous() for k, v in random.model.state_dict().items()}, str(path))
    loaded = load_backbone(f"{TINY_FORENSIC}@{path}")
    faces = load_face_images("real", 2, 64)
    with torch.no_grad():
        a = random.model.encode_image(_clip_normalise(faces))
        b = loaded.model.encode_image(_clip_normalise(faces))
    assert torch.allclose(a, b, atol=1e-6)
    assert not any(k.endswith((".srm", ".mean", ".std")) for k in random.model.state_dict())  # fixed: not stored
    for name in ("hamlet", "mfclip"):
        detector = build_detector(name, loaded)
        with torch.no_grad():
            out = detector(faces)
        assert out.p_fake.shape == (2,) and ((out.p_fake >= 0) & (out.p_fake <= 1)).all()


def test_a_plain_file_does_not_load_into_the_stem_architecture(tmp_path):
    plain = load_backbone("ffd-test-tiny", allow_random=True)
    path = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in plain.model.state_dict().items()}, str(path))
    with pytest.raises(ModelError, match="do not fit"):
        load_backbone(f"{TINY_FORENSIC}@{path}")


def test_apply_stem_is_a_no_op_for_plain_architectures():
    backbone = load_backbone("ffd-test-tiny", allow_random=True)
    conv = backbone.model.visual.conv1
    assert apply_stem(backbone.model, "ffd-test-tiny").visual.conv1 is conv
    assert isinstance(conv, torch.nn.Conv2d) and np.prod(conv.stride) == 256


def test_a_frozen_batchnorm_tower_scores_a_face_the_same_alone_or_in_a_batch_and_never_drifts():
    from core.detectors.base import Labels

    torch.manual_seed(0)
    backbone = load_backbone(TINY_FORENSIC, allow_random=True)
    faces = torch.cat([load_face_images("real", 3, 64), load_face_images("fake", 3, 64)])
    detector = build_detector("mfclip", backbone, {"freeze_image_encoder": True})
    stats = {k: v.clone() for k, v in detector.image_encoder.state_dict().items() if "running" in k}
    assert stats
    detector.train()
    assert not detector.image_encoder.training                     # frozen copy stays in eval mode
    detector.loss(faces, Labels(fake=torch.tensor([0, 0, 0, 1, 1, 1])))["total"].backward()
    after = {k: v for k, v in detector.image_encoder.state_dict().items() if "running" in k}
    assert all(torch.equal(stats[k], after[k]) for k in stats)      # no BatchNorm statistics update
    detector.eval()
    with torch.no_grad():
        batch = detector(faces).p_fake
        alone = torch.cat([detector(faces[i:i + 1]).p_fake for i in range(len(faces))])
    assert torch.allclose(batch, alone, atol=1e-5)


def test_dct_basis_is_the_jpeg_transform():
    import cv2

    from core.backbones.stems import dct_basis

    block = np.random.default_rng(0).uniform(-128, 127, (8, 8)).astype(np.float32)
    ours = torch.nn.functional.conv2d(torch.from_numpy(block)[None, None], dct_basis()).flatten().numpy()
    assert np.allclose(ours, cv2.dct(block).flatten(), atol=1e-3)


def test_dct_stem_reads_block_spectra_of_real_faces_and_makes_one_token_per_patch():
    from core.backbones.stems import DCTStem

    stem = DCTStem(width=48, patch_size=16, channels=16).eval()
    flat = stem.spectra(_clip_normalise(torch.full((1, 3, 64, 64), 0.5)))
    assert flat.shape == (1, 192, 8, 8)
    assert flat[:, 1:64].abs().max() < 1e-2          # a flat block has only a DC coefficient
    face = _clip_normalise(load_face_images("real", 2, 64))
    spectra = stem.spectra(face)
    assert spectra[:, 1:64].mean() > 0.5              # real texture has AC energy
    with torch.no_grad():
        assert stem(face).shape == (2, 48, 4, 4)
    with pytest.raises(ModelError, match="multiple of 8"):
        DCTStem(width=48, patch_size=12)


def test_shipped_dct_architecture_builds_by_name_and_both_detectors_run_on_it():
    from core.backbones.stems import DCTStem

    assert stem_config("ffd-dct")["type"] == "dct"
    backbone = load_backbone("ffd-dct", allow_random=True)
    assert isinstance(backbone.model.visual.conv1, DCTStem) and backbone.image_size == 192
    faces = load_face_images("fake", 2, 192)
    for name in ("hamlet", "mfclip"):
        with torch.no_grad():
            out = build_detector(name, backbone).eval()(faces)
        assert out.p_fake.shape == (2,) and torch.isfinite(out.p_fake).all()
