"""The teacher network: dual cross-attention fusion (shapes, both modalities matter, positions),
the teacher built by the same builder, and the THz-only network refusing visible input."""

from __future__ import annotations

import pytest
import torch

from thz.checkpoint import load_model, save_checkpoint
from thz.config import PUBLISHED_VISIBLE, Config, ConfigError, ModelConfig, TeacherConfig, config_to_dict
from thz.models import Inputs, MultiTaskNet, build_model, count_parameters, rebuild_model
from thz.models.fusion import CrossAttention, CrossAttentionFusion

SMALL = ModelConfig(width=8, embedding_hidden=32, embedding_dim=16)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def maps(batch=3, channels=64, size=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, size, size, generator=g), torch.randn(batch, channels, size, size, generator=g)


@pytest.mark.parametrize("positional", [True, False])
def test_fusion_keeps_the_bottleneck_shape(positional):
    fusion = CrossAttentionFusion(64, heads=8, positional=positional).eval()
    thz, vis = maps()
    assert fusion(thz, vis).shape == thz.shape


def test_fusion_output_depends_on_both_modalities():
    fusion = CrossAttentionFusion(64, heads=8).eval()
    thz, vis = maps()
    base = fusion(thz, vis)
    other_thz, other_vis = maps(seed=1)
    assert not torch.allclose(fusion(other_thz, vis), base, atol=1e-4)
    assert not torch.allclose(fusion(thz, other_vis), base, atol=1e-4)
    # and per sample: changing sample 0's visible map leaves samples 1 and 2 alone
    changed = vis.clone()
    changed[0] = other_vis[0]
    out = fusion(thz, changed)
    assert not torch.allclose(out[0], base[0], atol=1e-4)
    torch.testing.assert_close(out[1:], base[1:])


def test_both_attention_directions_receive_gradient():
    fusion = CrossAttentionFusion(64, heads=8)
    thz, vis = maps()
    thz.requires_grad_(True)
    vis.requires_grad_(True)
    fusion(thz, vis).square().mean().backward()
    for name in ("visible_guided", "thz_guided"):
        grad = getattr(fusion, name).attn.in_proj_weight.grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert thz.grad.abs().sum() > 0 and vis.grad.abs().sum() > 0


def test_cross_attention_queries_one_modality_with_the_other():
    """Visible-guided attention: the output has one row per visible token and is a residual on the
    queries; with a zero output projection it returns the queries unchanged."""
    attn = CrossAttention(16, heads=4, dropout=0.0).eval()
    queries, context = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    assert attn(queries, context).shape == (2, 5, 16)
    torch.nn.init.zeros_(attn.attn.out_proj.weight)
    torch.nn.init.zeros_(attn.attn.out_proj.bias)
    torch.testing.assert_close(attn(queries, context), queries)


def test_without_positions_the_fusion_is_equivariant_to_permuting_tokens():
    """No positions: 16 tokens are a set, so permuting both maps' tokens permutes the output; with
    positions it does not (why the option exists)."""
    thz, vis = maps(batch=2)
    perm = torch.randperm(16)

    def permute(x):
        return x.flatten(2)[:, :, perm].reshape(x.shape)

    plain = CrossAttentionFusion(64, heads=8, positional=False).eval()
    torch.testing.assert_close(plain(permute(thz), permute(vis)), permute(plain(thz, vis)), atol=1e-5, rtol=1e-5)
    positioned = CrossAttentionFusion(64, heads=8, positional=True).eval()
    with torch.no_grad():
        positioned.position.normal_()
    assert not torch.allclose(positioned(permute(thz), permute(vis)), permute(positioned(thz, vis)), atol=1e-3)


def test_positions_are_resized_for_other_bottleneck_sizes():
    fusion = CrossAttentionFusion(64, heads=8).eval()
    thz, vis = maps(size=2)
    assert fusion(thz, vis).shape == (3, 64, 2, 2)


def test_fusion_rejects_mismatched_maps_and_heads():
    thz, vis = maps()
    with pytest.raises(ValueError, match="differ"):
        CrossAttentionFusion(64, heads=8)(thz, vis[:, :, :2])
    with pytest.raises(ValueError, match="must divide"):
        CrossAttentionFusion(64, heads=7)


def test_teacher_is_the_multitask_network_plus_visible_encoder_and_fusion():
    teacher = build_model(SMALL, TeacherConfig(heads=4, **PUBLISHED_VISIBLE))
    student = build_model(SMALL)
    assert isinstance(teacher, MultiTaskNet) and teacher.modalities == ("thz", "visible")
    assert student.modalities == ("thz",)
    extra = count_parameters(teacher.visible_encoder) + count_parameters(teacher.fusion)
    assert count_parameters(teacher) == count_parameters(student) + extra
    # every student parameter name exists in the teacher with the same shape (shared parts)
    teacher_shapes = {k: v.shape for k, v in teacher.state_dict().items()}
    assert all(teacher_shapes[k] == v.shape for k, v in student.state_dict().items())


def test_teacher_forward_uses_the_visible_image():
    teacher = build_model(SMALL, TeacherConfig(heads=4, **PUBLISHED_VISIBLE)).eval()
    x, v = torch.rand(4, 1, 64, 64), torch.rand(4, 1, 64, 64)
    posture = torch.tensor([0, 1, 2, 3])
    out = teacher(x, posture, visible=v)
    assert out.emb.shape == (4, 16) and out.recon.shape == (4, 1, 64, 64) and out.latent.shape == (4, 64)
    other = teacher(x, posture, visible=torch.rand(4, 1, 64, 64))
    assert not torch.allclose(out.emb, other.emb)
    assert (out.recon - other.recon).abs().max() > 1e-6  # the fused bottleneck reaches the decoder


def test_teacher_requires_visible_and_thz_only_network_refuses_it():
    teacher = build_model(SMALL, TeacherConfig(heads=4, **PUBLISHED_VISIBLE))
    student = build_model(SMALL)
    x = torch.rand(2, 1, 64, 64)
    with pytest.raises(ValueError, match="needs the visible images"):
        teacher(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="THz-only network"):
        student(x, torch.tensor([0, 1]), visible=x)


def test_heads_must_divide_the_bottleneck_channels():
    with pytest.raises(ConfigError, match="teacher.heads = 5"):
        build_model(SMALL, TeacherConfig(heads=5))


def test_load_model_rebuilds_a_teacher_from_its_checkpoint(tmp_path):
    cfg = Config(model=SMALL, teacher=TeacherConfig(heads=4, positional=False, **PUBLISHED_VISIBLE))
    teacher = build_model(cfg.model, cfg.teacher)
    save_checkpoint(
        tmp_path / "t.pt", model=teacher.state_dict(), config=config_to_dict(cfg), modalities=["thz", "visible"]
    )
    loaded, loaded_cfg = load_model(tmp_path / "t.pt")
    assert loaded.modalities == ("thz", "visible") and loaded_cfg.teacher == cfg.teacher
    x = torch.rand(2, 1, 64, 64)
    torch.testing.assert_close(loaded(x, visible=x, decode=False).emb, teacher.eval()(x, visible=x, decode=False).emb)


def test_what_a_network_reads_is_built_from_the_config_and_rebuilds_it_from_its_record():
    cfg = Config(model=SMALL, teacher=TeacherConfig(heads=4, **PUBLISHED_VISIBLE))
    teacher, student = build_model(cfg.model, cfg.teacher), build_model(cfg.model)
    assert teacher.inputs == Inputs.of(cfg.teacher) and student.inputs == Inputs() == Inputs.of(None)
    assert (teacher.inputs.visible.channels, teacher.inputs.visible.scale) == (1, 1)
    for net in (teacher, student):
        assert rebuild_model(cfg, list(net.modalities)).inputs == net.inputs
    with pytest.raises(ValueError, match=r"records the inputs \['visible'\]"):
        rebuild_model(cfg, ["visible"])
    t = teacher  # its visible encoder and fusion, without saying that it reads a photo
    parts = (t.encoder, t.reduction, t.embedding, t.posture_head, t.decoder)
    with pytest.raises(ValueError, match="visible encoder, a fusion block and visible inputs"):
        MultiTaskNet(*parts, visible_encoder=t.visible_encoder, fusion=t.fusion)


def test_a_thz_only_network_picks_no_photo_and_a_teacher_needs_one():
    batch = {"input": torch.rand(2, 1, 64, 64), "target": torch.rand(2, 1, 64, 64), "posture": torch.tensor([0, 1])}
    images, posture, visible = Inputs().pick({**batch, "visible_input": torch.rand(2, 1, 64, 64)})
    assert torch.equal(images, torch.cat([batch["input"], batch["target"]])) and visible is None
    assert posture.tolist() == [0, 1, 0, 1]
    with pytest.raises(ValueError, match="needs visible images but the batch has none"):
        Inputs.of(TeacherConfig(heads=4)).pick(batch)


def test_latent_is_taken_before_dropout_and_the_heads_get_one_shared_mask():
    """Distillation matches the latent, so it must not carry the heads' dropout noise."""
    model = build_model(ModelConfig(width=8, embedding_hidden=32, embedding_dim=16, dropout=0.9)).train()
    out = model(torch.rand(8, 1, 64, 64), torch.arange(8) % 5, decode=False)
    assert (out.latent == 0).float().mean() < 0.05  # LeakyReLU output: dropout would zero about 90 %
    seen = []
    model.posture_head.register_forward_hook(lambda mod, inp, o: seen.append(inp[0]))
    model.embedding.register_forward_hook(lambda mod, inp, o: seen.append(inp[0]))
    model(torch.rand(8, 1, 64, 64), torch.arange(8) % 5, decode=False)
    assert (seen[0] == 0).float().mean() > 0.8 and torch.equal(seen[0], seen[1])


@pytest.mark.parametrize("colour, scale", [(True, 1), (False, 2), (True, 2), (True, 4)])
def test_a_teacher_reads_colour_visible_images_at_their_own_size(colour, scale):
    teacher = build_model(SMALL, TeacherConfig(heads=4, visible_colour=colour, visible_scale=scale)).eval()
    fmt = teacher.inputs.visible
    assert (fmt.channels, fmt.scale) == (3 if colour else 1, scale)
    x, posture = torch.rand(2, 1, 64, 64), torch.tensor([0, 1])
    v = torch.rand(2, fmt.channels, 64 * scale, 64 * scale)
    out = teacher(x, posture, visible=v)
    assert out.emb.shape == (2, 16) and out.recon.shape == (2, 1, 64, 64)
    other = v.clone()
    other[:, -1] = torch.rand(2, 64 * scale, 64 * scale)  # the last colour channel alone changes
    assert not torch.allclose(teacher(x, posture, visible=other).emb, out.emb)
    with pytest.raises(RuntimeError):  # the published 1-channel, THz-size input no longer fits
        teacher(x, posture, visible=torch.rand(2, 1 if colour else 3, 64 * scale, 64 * scale))


def test_the_published_teacher_reads_grayscale_at_the_thz_size_and_the_default_a_colour_photo():
    published = build_model(SMALL, TeacherConfig(heads=4, **PUBLISHED_VISIBLE))
    fmt = published.inputs.visible
    assert (fmt.channels, fmt.scale, fmt.source) == (1, 1, "capture")
    assert published.visible_encoder.stem[0].in_channels == 1  # the published checkpoint keys
    default = build_model(SMALL, TeacherConfig(heads=4)).inputs.visible
    assert (default.channels, default.scale, default.source) == (3, 2, "unconcealed")  # lab/sweeps/teacher.yaml
    assert build_model(SMALL).inputs.visible is None
    scaled = build_model(SMALL, TeacherConfig(heads=4, visible_scale=2))
    assert len(scaled.visible_encoder.downscale) == 1


def test_visible_scale_must_be_a_power_of_two():
    with pytest.raises(ConfigError, match="teacher.visible_scale must be a power of 2"):
        build_model(SMALL, TeacherConfig(heads=4, visible_scale=3))


def test_modality_dropout_sends_samples_through_the_thz_path_alone_in_training_only():
    cfg = ModelConfig(width=8, embedding_hidden=32, embedding_dim=16, dropout=0.0)
    teacher = build_model(cfg, TeacherConfig(heads=4, modality_dropout=0.5, **PUBLISHED_VISIBLE))
    assert (
        teacher.modality_dropout == 0.5
        and build_model(cfg, TeacherConfig(heads=4, **PUBLISHED_VISIBLE)).modality_dropout == 0.0
    )
    x, posture = torch.rand(6, 1, 64, 64), torch.tensor([0, 1, 2, 3, 4, 0])
    v1, v2 = torch.rand(6, 1, 64, 64), torch.rand(6, 1, 64, 64)
    teacher.modality_dropout = 1.0  # every sample: the visible image cannot matter
    teacher.train()
    torch.testing.assert_close(teacher(x, posture, visible=v1).emb, teacher(x, posture, visible=v2).emb)
    teacher.eval()  # never at inference
    assert not torch.allclose(teacher(x, posture, visible=v1).emb, teacher(x, posture, visible=v2).emb)
    teacher.modality_dropout = 0.5
    teacher.train()
    bottlenecks = []  # the map the heads read: fused, or the THz map for a dropped sample
    teacher.reduction.register_forward_hook(lambda module, args, out: bottlenecks.append(args[0]))
    for v in (v1, v2):
        torch.manual_seed(3)
        teacher(x, posture, visible=v)
    same = torch.isclose(bottlenecks[0], bottlenecks[1]).flatten(1).all(dim=1)
    assert 0 < same.sum() < 6  # some samples fused, some THz alone (batch norm couples the rest)


def test_a_privileged_teacher_fuses_the_concealed_input_with_the_uncovered_photo():
    batch = {
        "input": torch.rand(2, 1, 64, 64),
        "target": torch.rand(2, 1, 64, 64),
        "posture": torch.tensor([0, 1]),
        "visible_input": torch.zeros(2, 1, 64, 64),  # the balaclava photo
        "visible_target": torch.ones(2, 1, 64, 64),  # the uncovered face of the same capture
    }
    published = build_model(SMALL, TeacherConfig(heads=4, visible_source="capture"))
    _, _, visible = published.inputs.pick(batch)
    assert visible[:2].eq(0).all() and visible[2:].eq(1).all()  # each THz image with its own photo
    privileged = build_model(SMALL, TeacherConfig(heads=4, visible_source="unconcealed"))
    assert privileged.inputs.visible.source == "unconcealed"
    _, _, visible = privileged.inputs.pick(batch)
    assert visible.eq(1).all()  # the concealed inputs too
    _, _, anchors = privileged.inputs.pick(batch, anchors_only=True)
    assert anchors.shape == (2, 1, 64, 64) and anchors.eq(1).all()
