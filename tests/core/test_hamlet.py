"""HAMLET-FFD detector: shapes, frozen backbone, exact loss, learning, checkpoints and the paper's ablation flags."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from core.backbones import encode_text_embeddings
from core.detectors.base import DetectorOutput, Labels
from core.detectors.checkpoint import load_detector, save_detector
from core.detectors.hamlet import HamletDetector, tap_blocks
from core.detectors.registry import build_detector
from core.errors import ModelError
from tests.conftest import load_face_images

SIZE = 64  # the tiny backbone's input size


def make(backbone, seed=0, **config):
    torch.manual_seed(seed)
    return build_detector("hamlet", backbone, config)


@pytest.fixture(scope="module")
def faces():
    """3 real (FFHQ) then 3 fake (StyleGAN) faces."""
    return torch.cat([load_face_images("real", 3, SIZE), load_face_images("fake", 3, SIZE)])


LABELS = torch.tensor([0, 0, 0, 1, 1, 1])


def test_tap_blocks_are_evenly_spaced_one_based_blocks():
    assert tap_blocks(24, 6) == [3, 7, 11, 15, 19, 23]        # blocks 4, 8, ..., 24 of ViT-L/14
    assert tap_blocks(12, 6) == [1, 3, 5, 7, 9, 11]           # ViT-B
    assert tap_blocks(6, 6) == [0, 1, 2, 3, 4, 5]             # tiny: every block
    assert tap_blocks(24, 3) == [7, 15, 23]
    assert tap_blocks(4, 6) == [0, 1, 2, 3]                   # de-duplicated
    assert tap_blocks(24, 6, multi_level=False) == [23]


def test_registry_builds_and_validates(tiny_backbone):
    det = make(tiny_backbone)
    assert isinstance(det, HamletDetector) and det.name == "hamlet" and det.input_size == SIZE
    assert set(HamletDetector.default_config) >= {"n_real", "n_fake", "n_context", "n_taps", "fusion_dim",
                                                   "fusion_heads", "fusion_layers", "multi_level",
                                                   "visual_to_text", "loss", "decay"}
    with pytest.raises(ModelError, match="unknown config"):
        build_detector("hamlet", tiny_backbone, {"n_ctx": 4})
    with pytest.raises(ModelError, match="loss"):
        build_detector("hamlet", tiny_backbone, {"loss": "focal"})
    with pytest.raises(ModelError, match="divisible"):
        build_detector("hamlet", tiny_backbone, {"fusion_dim": 30, "fusion_heads": 4})


def test_output_shapes_ranges_and_feature_split(tiny_backbone, faces):
    det = make(tiny_backbone).eval()
    with torch.no_grad():
        feats = det.backbone_features(faces)
        out = det(faces)
        split = det.forward_features(feats)
        half = det.forward_features({k: v.half() for k, v in feats.items()})  # what a float16 cache gives
    assert feats["taps"].shape == (6, 6, 16, 48) and feats["image"].shape == (6, 32)
    assert not feats["taps"].requires_grad
    pooled = make(tiny_backbone, pool=2).eval()
    with torch.no_grad():
        pooled.load_state_dict(det.state_dict())
        small = pooled.backbone_features(faces)              # what the trainer caches: the grid already pooled
        assert small["taps"].shape == (6, 6, 4, 48)
        assert torch.allclose(pooled.forward_features(small).p_fake, pooled(faces).p_fake)
    assert isinstance(out, DetectorOutput)
    assert out.p_fake.shape == (6,) and ((out.p_fake >= 0) & (out.p_fake <= 1)).all()
    assert set(out.similarities) == {"real", "fake", "context"}
    for sim in out.similarities.values():
        assert sim.shape == (6,) and (sim.abs() <= 1 + 1e-6).all()
    att = out.attention
    assert att.shape == (6, SIZE, SIZE) and att.min() >= 0 and att.max() <= 1
    assert torch.allclose(att.amin(dim=(1, 2)), torch.zeros(6)) and torch.allclose(att.amax(dim=(1, 2)), torch.ones(6))
    assert torch.equal(out.p_fake, split.p_fake)
    assert torch.allclose(half.p_fake, out.p_fake, atol=0.02)
    # The similarities are plain cosines of the frozen image embedding: p_fake follows from them.
    tau = det.logit_scale.exp()
    expected = torch.sigmoid(tau * (out.similarities["fake"] - out.similarities["real"]))
    assert torch.allclose(out.p_fake, expected, atol=1e-5)


def test_all_prompts_go_through_the_text_encoder_in_one_exact_call(tiny_backbone, faces):
    det = make(tiny_backbone, n_real=2, n_context=5).eval()
    calls = []
    hook = det.clip.transformer.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape))
    try:
        with torch.no_grad():
            det(faces)
    finally:
        hook.remove()
    assert calls == [torch.Size([6, 2 + 1 + 5 + 6, 32])]   # one row per face, its 3 prompts packed
    # Packed prompts are exactly the prompts run alone (positions restart, block-diagonal causal mask).
    with torch.no_grad():
        tokens = det._static_tokens()
        packed = det._encode_prompts(tokens[None])[0]
        table = det.clip.token_embedding.weight
        alone, start = [], 0
        for count in det.counts:
            seq = torch.cat([table[det.sot_id][None], tokens[start:start + count], table[det.eot_id][None]])
            alone.append(encode_text_embeddings(det.clip, seq[None], torch.tensor([count + 1]))[0])
            start += count
    assert torch.allclose(packed, F.normalize(torch.stack(alone), dim=-1), atol=1e-5)
    # Word initialisation: the static Real/Fake prompts start as CLIP's own "real" / "fake" text features.
    det = make(tiny_backbone)
    with torch.no_grad():
        static = det._encode_prompts(det._static_tokens()[None])[0]
        words = F.normalize(det.clip.encode_text(tiny_backbone.tokenize(["real", "fake"])), dim=-1)
    assert torch.allclose(static[:2], words, atol=1e-5)


def test_backbone_gets_no_gradient_and_stays_unchanged(tiny_backbone, faces):
    det = make(tiny_backbone).train()
    clip_before = {k: v.clone() for k, v in det.clip.state_dict().items()}
    plugin_before = {n: p.detach().clone() for n, p in det.named_parameters() if not n.startswith("clip.")}
    trainable = det.trainable_parameters()
    assert trainable and not any(p is q for p in trainable for q in det.clip.parameters())
    opt = torch.optim.AdamW(det.parameters(), lr=1e-3)   # everything offered: the frozen part must not move
    det.loss(faces, Labels(fake=LABELS))["total"].backward()
    assert all(p.grad is None for p in det.clip.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)
    opt.step()
    assert not det.clip.training
    assert all(torch.equal(v, clip_before[k]) for k, v in det.clip.state_dict().items())
    for name, param in det.named_parameters():
        if not name.startswith("clip."):
            assert not torch.equal(param, plugin_before[name]), name


def _hand_hierarchy_loss(sims, prior, labels, tau, weights):
    """Progressive CE written out: term k = -log softmax of item k among items k..4 of (target, ctx, opp, prior)."""
    total = torch.zeros(())
    for i in range(sims.shape[0]):
        t = int(labels[i])
        ranked = tau * torch.stack([sims[i, t], sims[i, 2], sims[i, 1 - t], prior[i]])
        per_face = torch.zeros(())
        for k, w in enumerate(weights):
            per_face = per_face + w * (torch.logsumexp(ranked[k:], dim=0) - ranked[k])
        total = total + per_face
    return total / sims.shape[0]


def test_loss_equals_hand_computed_progressive_cross_entropy(tiny_backbone, faces):
    det = make(tiny_backbone).eval()
    with torch.no_grad():
        out = det(faces)
        loss = det.loss(faces, Labels(fake=LABELS))
        loss_tensor_labels = det.loss(faces, LABELS)["total"]
        # S_prior recomputed independently: frozen image embedding vs frozen "a photo of a face" text feature.
        image = F.normalize(det.clip.encode_image(det.normalize(faces)), dim=-1)
        text = F.normalize(det.clip.encode_text(tiny_backbone.tokenize(["a photo of a face"])), dim=-1)
        prior = (image @ text.T)[:, 0]
        tau = det.logit_scale.exp()
    sims = torch.stack([out.similarities["real"], out.similarities["fake"], out.similarities["context"]], dim=1)
    assert torch.allclose(out.extras["prior"], prior, atol=1e-5)
    expected = _hand_hierarchy_loss(sims, prior, LABELS, tau, [4 / 7, 2 / 7, 1 / 7])   # decay 0.5, normalised
    assert torch.allclose(loss["total"], expected, atol=1e-5)
    assert torch.allclose(loss_tensor_labels, expected, atol=1e-5)
    assert set(loss) >= {"total", "rank_target", "rank_context", "rank_opposite", "ce"}

    det_ce = make(tiny_backbone, loss="ce").eval()
    det_ce.load_state_dict(det.state_dict())              # same weights, only the objective differs
    with torch.no_grad():
        ce = det_ce.loss(faces, LABELS)["total"]
        out_ce = det_ce(faces)
    assert torch.equal(out_ce.p_fake, out.p_fake)
    assert torch.allclose(ce, F.cross_entropy(tau * sims[:, :2], LABELS), atol=1e-6)
    assert abs(float(ce) - float(loss["total"])) > 1e-3


def test_training_on_real_and_fake_faces_halves_the_loss(tiny_backbone):
    faces = torch.cat([load_face_images("real", 24, SIZE, offset=10), load_face_images("fake", 24, SIZE, offset=10)])
    labels = torch.cat([torch.zeros(24), torch.ones(24)]).long()
    det = make(tiny_backbone).train()
    feats = det.backbone_features(faces)                     # feature cache: the frozen pass runs once
    opt = torch.optim.AdamW(det.trainable_parameters(), lr=1e-3)
    losses = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: thread hand-offs cost more than they save (and 2 shared cores)
    try:
        for _ in range(60):
            loss = det.loss_features(feats, labels)["total"]
            losses.append(loss.item())
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    first = losses[0]
    det.eval()
    with torch.no_grad():
        final = float(det.loss_features(feats, labels)["total"])
        p_fake = det.forward_features(feats).p_fake
    assert final <= 0.5 * first, (first, final)
    assert p_fake[24:].mean() > p_fake[:24].mean()


def test_checkpoint_round_trip_and_backbone_hash_check(tiny_backbone, faces, tmp_path):
    det = make(tiny_backbone, n_context=4).train()
    opt = torch.optim.AdamW(det.trainable_parameters(), lr=1e-2)
    feats = det.backbone_features(faces)
    for _ in range(3):
        opt.zero_grad()
        det.loss_features(feats, LABELS)["total"].backward()
        opt.step()
    det.eval()
    state = det.own_state_dict()
    assert not any(k.startswith("clip.") for k in state)
    # Only the plugin is stored: exactly the trainable parameters, no copy of the backbone under another name.
    assert sum(v.numel() for v in state.values()) == sum(p.numel() for p in det.trainable_parameters())

    path = tmp_path / "hamlet.safetensors"
    save_detector(det, path)
    loaded = load_detector(path, tiny_backbone)
    assert isinstance(loaded, HamletDetector) and loaded.config == det.config
    with torch.no_grad():
        a, b = det(faces), loaded(faces)
    assert torch.equal(a.p_fake, b.p_fake) and torch.equal(a.attention, b.attention)
    assert all(torch.equal(a.similarities[k], b.similarities[k]) for k in a.similarities)

    other = dataclasses.replace(tiny_backbone, weights_sha256="f" * 64)
    with pytest.raises(ModelError, match="backbone"):
        load_detector(path, other)


def test_ablation_flags_change_the_computation(tiny_backbone, faces):
    with torch.no_grad():
        full = make(tiny_backbone).eval()
        feats = full.backbone_features(faces)
        run = full._run(feats)
        out = full.forward_features(feats)
        # Full model: prompt features depend on the image.
        assert not torch.allclose(run["text"][0], run["text"][3])

        single = make(tiny_backbone, multi_level=False).eval()
        assert single.taps == [5] and single.levels == 1
        single_feats = single.backbone_features(faces)
        assert single_feats["taps"].shape == (6, 1, 16, 48)
        assert torch.equal(single_feats["taps"][:, 0], feats["taps"][:, -1])   # the final block's tokens
        assert not torch.allclose(single.forward_features(single_feats).p_fake, out.p_fake)
        assert make(tiny_backbone, n_taps=3).taps == [1, 3, 5]

        static = make(tiny_backbone, visual_to_text=False).eval()
        static_run = static._run(feats)
        static_out = static.forward_features(feats)
        assert torch.equal(static_run["text"][0], static_run["text"][3])    # prompts independent of the image
        assert static_out.attention is None
        assert not any(k.startswith(("cross_attn", "query_proj", "text_out")) for k in static.own_state_dict())
        assert not torch.allclose(static_out.similarities["fake"], out.similarities["fake"])
