"""The multi-task network: output shapes, gradients, decode=n, MoE routing semantics, blocks, sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from thz.config import ModelConfig
from thz.data.naming import POSTURES
from thz.deploy.graph import DeployedNet
from thz.models import MoEOutput, MultiTaskNet, NetOutput, build_model, count_parameters
from thz.models.blocks import ResidualDenseBlock, ResidualDown, UpStep
from thz.models.heads import EmbeddingHead, SpatialReduction, scored_embedding, split_scored
from thz.models.moe_unet import ExpertDecoder, PostureExperts

SIZE = 64
N_POSTURES = len(POSTURES)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def make(width: int = 16, **overrides) -> MultiTaskNet:
    return build_model(ModelConfig(width=width, **overrides))


def images(batch: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def unet_features(batch: int = 3, width: int = 8, size: int = SIZE) -> list[torch.Tensor]:
    """What UNetEncoder(width) gives at `size` px: maps at 1/2, 1/4, 1/8, 1/16."""
    chans = (width, 2 * width, 4 * width, 8 * width)
    return [torch.randn(batch, c, size // 2 ** (i + 1), size // 2 ** (i + 1)) for i, c in enumerate(chans)]


class TaggedExpert(nn.Module):
    """Stands in for an expert: records the bottleneck rows it receives and answers a constant image
    tagged with its own index, so the reconstruction shows which expert handled each sample."""

    def __init__(self, index: int, calls: list):
        super().__init__()
        self.index, self.calls = index, calls

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        self.calls.append((self.index, features[-1].detach().clone()))
        return features[-1].new_full((features[-1].shape[0], 1, SIZE, SIZE), self.tag(self.index))

    @staticmethod
    def tag(index: int) -> float:
        return (index + 1) / 10


def tag_experts(model: MultiTaskNet) -> tuple[list, list]:
    """Swap in TaggedExperts; returns (calls, bottlenecks): every expert call, and the encoder's
    full bottleneck map of every forward (to tell which samples an expert received)."""
    calls, bottlenecks = [], []
    model.decoder.experts = nn.ModuleList(TaggedExpert(e, calls) for e in range(N_POSTURES))
    model.encoder.register_forward_hook(lambda mod, inp, out: bottlenecks.append(out[-1].detach().clone()))
    return calls, bottlenecks


def samples_per_expert(calls: list, bottleneck: torch.Tensor) -> dict[int, list[int]]:
    """Which batch rows each expert received (matched exactly against the encoder's bottleneck)."""
    received = {}
    for index, rows in calls:
        matches = [[i for i in range(len(bottleneck)) if torch.equal(row, bottleneck[i])] for row in rows]
        assert all(len(m) == 1 for m in matches), "every received row is exactly one batch sample"
        received[index] = [m[0] for m in matches]
    return received


class FixedLogits(nn.Module):
    """A posture head whose logits are chosen by the test (the latent only sets the batch size)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits
        self.anchor = nn.Parameter(torch.zeros(()))  # keeps the module's device/dtype queries working

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.logits[: latent.shape[0]] + 0 * self.anchor + 0 * latent.sum()


# --------------------------------------------------------------------------------------------------
# build_model: shapes, ranges, gradients


VARIANTS = {
    "default": {},
    "resnet18": {"encoder": "resnet18"},
    "pool": {"reduction": "pool"},
    "oracle": {"moe_routing": "oracle"},
    "predicted": {"moe_routing": "predicted"},
    "soft": {"moe_routing": "soft"},
}


@pytest.mark.parametrize("overrides", list(VARIANTS.values()), ids=list(VARIANTS))
def test_outputs_shapes_ranges_and_gradients(overrides):
    cfg = ModelConfig(width=16, **overrides)
    model = build_model(cfg)
    model.train()
    posture = torch.tensor([0, 1, 2, 0])  # experts 3 and 4 are not used by this batch
    batch = len(posture)
    out = model(images(batch), posture)

    assert isinstance(out, NetOutput)
    latent_dim = 512 if cfg.encoder == "resnet18" else 8 * cfg.width
    assert out.emb.shape == (batch, cfg.embedding_dim)
    assert out.posture_logits.shape == (batch, N_POSTURES)
    assert out.recon.shape == (batch, 1, SIZE, SIZE)
    assert out.latent.shape == (batch, latent_dim)
    for name in ("emb", "posture_logits", "recon", "latent"):
        assert torch.isfinite(getattr(out, name)).all(), name
    torch.testing.assert_close(out.emb.norm(dim=1), torch.ones(batch))
    assert out.recon.min() >= 0 and out.recon.max() <= 1

    assert isinstance(out.moe, MoEOutput)
    assert out.moe.gate_weights.shape == (batch, N_POSTURES)
    torch.testing.assert_close(out.moe.gate_weights.sum(dim=1), torch.ones(batch))
    soft = cfg.moe_routing == "soft"
    if not soft:  # hard routing in training follows the true labels: one-hot rows
        torch.testing.assert_close(out.moe.gate_weights, nn.functional.one_hot(posture, N_POSTURES).float())

    (out.emb.sum() + out.posture_logits.sum() + out.recon.mean()).backward()
    used = set(range(N_POSTURES)) if soft else set(posture.tolist())
    experts = {id(p): e for e, expert in enumerate(model.decoder.experts) for p in expert.parameters()}
    for name, param in model.named_parameters():
        expert = experts.get(id(param))
        if expert is not None and expert not in used:
            assert param.grad is None, f"{name}: expert {expert} ran on no sample yet has a gradient"
        else:
            assert param.grad is not None, f"{name} received no gradient"
            assert torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
    for e in sorted(used):  # and the used experts really learn something
        assert any(p.grad.abs().sum() > 0 for p in model.decoder.experts[e].parameters()), e


def test_resnet18_ignores_width_and_ends_at_4x4():
    model = make(width=8, encoder="resnet18").eval()
    assert model.encoder.channels == (64, 128, 256, 512)
    features = model.encoder(images(2))
    assert [tuple(f.shape[1:]) for f in features] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]


def test_unet_encoder_feature_pyramid():
    model = make(width=8).eval()
    features = model.encoder(images(2))
    assert [tuple(f.shape[1:]) for f in features] == [(8, 32, 32), (16, 16, 16), (32, 8, 8), (64, 4, 4)]
    assert model.encoder.channels == (8, 16, 32, 64)


def test_model_head_sizes_follow_config():
    model = make(width=8, embedding_dim=24, embedding_hidden=40).eval()
    out = model(images(3), decode=False)
    assert out.emb.shape == (3, 24)
    assert model.embedding.mlp[0].out_features == 40
    assert len(model.decoder.experts) == N_POSTURES


# --------------------------------------------------------------------------------------------------
# decode


def test_decode_n_reconstructs_only_the_first_n():
    model = make(width=8, moe_routing="oracle")
    posture = torch.tensor([0, 1, 2, 3, 4, 0])
    out = model(images(6), posture, decode=2)
    assert out.recon.shape == (2, 1, SIZE, SIZE)
    assert out.moe.gate_weights.shape == (2, N_POSTURES)
    assert out.emb.shape[0] == out.posture_logits.shape[0] == out.latent.shape[0] == 6


def test_decode_n_matches_the_full_decode_in_eval_mode():
    model = make(width=8, moe_routing="oracle").eval()
    x, posture = images(5), torch.tensor([4, 3, 2, 1, 0])
    with torch.no_grad():
        full = model(x, posture)
        part = model(x, posture, decode=3)
    torch.testing.assert_close(part.recon, full.recon[:3])
    torch.testing.assert_close(part.emb, full.emb)


def test_decode_n_routes_only_the_first_n_samples():
    model = make(width=8, moe_routing="oracle")
    calls, bottlenecks = tag_experts(model)
    out = model(images(6), torch.tensor([2, 4, 0, 0, 0, 0]), decode=2)
    assert sorted(samples_per_expert(calls, bottlenecks[-1]).items()) == [(2, [0]), (4, [1])]
    torch.testing.assert_close(out.recon[:, 0, 0, 0], torch.tensor([TaggedExpert.tag(2), TaggedExpert.tag(4)]))


def test_decode_false_gives_no_reconstruction():
    model = make(width=8, moe_routing="oracle")
    out = model(images(3), decode=False)  # oracle needs no labels when nothing is decoded
    assert out.recon is None and out.moe is None
    assert out.emb.shape == (3, 128)


# --------------------------------------------------------------------------------------------------
# routing semantics


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_oracle_routing_requires_posture_labels(train):
    model = make(width=8, moe_routing="oracle").train(train)
    with pytest.raises(ValueError, match="oracle routing needs the true posture labels"):
        model(images(2))


def test_predicted_routing_requires_labels_in_training_only():
    model = make(width=8, moe_routing="predicted").train()
    with pytest.raises(ValueError, match="predicted routing needs the true posture labels"):
        model(images(2))
    out = model.eval()(images(2))
    assert out.recon.shape == (2, 1, SIZE, SIZE)


def test_predicted_routing_uses_truth_in_training_and_argmax_in_eval():
    model = make(width=8, moe_routing="predicted")
    logits = torch.tensor([[0.0, 0, 0, 5, 0], [0, 0, 0, 5, 0], [9, 0, 0, 0, 0], [0, 7, 0, 0, 0]])
    model.posture_head = FixedLogits(logits)  # argmax (3, 3, 0, 1), truth (0, 1, 2, 3): they differ everywhere
    calls, bottlenecks = tag_experts(model)
    x, posture = images(4), torch.tensor([0, 1, 2, 3])

    out = model.train()(x, posture)
    assert samples_per_expert(calls, bottlenecks[-1]) == {0: [0], 1: [1], 2: [2], 3: [3]}
    torch.testing.assert_close(out.recon[:, 0, 0, 0], torch.tensor([TaggedExpert.tag(e) for e in (0, 1, 2, 3)]))

    calls.clear()
    out = model.eval()(x, posture)  # the labels are ignored in eval mode
    assert samples_per_expert(calls, bottlenecks[-1]) == {0: [2], 1: [3], 3: [0, 1]}
    torch.testing.assert_close(out.recon[:, 0, 0, 0], torch.tensor([TaggedExpert.tag(e) for e in (3, 3, 0, 1)]))
    torch.testing.assert_close(out.moe.gate_weights, nn.functional.one_hot(logits.argmax(1), N_POSTURES).float())


def test_hard_routing_sends_each_sample_through_exactly_one_expert():
    model = make(width=8, moe_routing="oracle")
    calls, bottlenecks = tag_experts(model)
    posture = torch.tensor([4, 0, 4, 2, 0, 4, 1])
    model(images(7), posture)
    received = samples_per_expert(calls, bottlenecks[-1])
    assert len(calls) == len(received) == len(set(posture.tolist())), "each used expert runs once per forward"
    assert sorted(i for rows in received.values() for i in rows) == list(range(7)), "no sample twice or skipped"
    for e, rows in received.items():
        assert rows == (posture == e).nonzero().flatten().tolist()


def test_hard_routing_equals_running_the_expert_alone_in_eval_mode():
    model = make(width=8, moe_routing="predicted").eval()
    x = images(5)
    with torch.no_grad():
        out = model(x)
        features = model.encoder(x)
        route = out.posture_logits.argmax(dim=1)
        for i in range(5):
            alone = model.decoder.experts[int(route[i])]([f[i : i + 1] for f in features])
            torch.testing.assert_close(out.recon[i : i + 1], alone)
            other = model.decoder.experts[(int(route[i]) + 1) % N_POSTURES]([f[i : i + 1] for f in features])
            assert not torch.allclose(out.recon[i : i + 1], other), "experts are distinct networks"


def test_soft_routing_mixes_all_experts_with_softmax_weights():
    model = make(width=8, moe_routing="soft")
    logits = torch.tensor([[2.0, 0, -1, 0.5, 1], [0, 0, 0, 0, 0], [-3, 4, 0, 0, 1]])
    model.posture_head = FixedLogits(logits)
    calls, bottlenecks = tag_experts(model)
    out = model(images(3), torch.tensor([0, 0, 0]))  # labels are ignored
    weights = logits.softmax(dim=1)
    torch.testing.assert_close(out.moe.gate_weights, weights)
    tags = torch.tensor([TaggedExpert.tag(e) for e in range(N_POSTURES)])
    torch.testing.assert_close(out.recon[:, 0, 0, 0], weights @ tags)
    received = samples_per_expert(calls, bottlenecks[-1])
    assert received == {e: [0, 1, 2] for e in range(N_POSTURES)}, "every expert runs on every sample"


def test_soft_routing_matches_a_manual_mixture_of_real_experts():
    model = make(width=8, moe_routing="soft").eval()
    x = images(3)
    with torch.no_grad():
        out = model(x)
        features = model.encoder(x)
        weights = out.posture_logits.softmax(dim=1)
        expected = sum(weights[:, e, None, None, None] * model.decoder.experts[e](features) for e in range(5))
    torch.testing.assert_close(out.recon, expected)


def test_soft_gate_does_not_train_the_posture_head():
    model = make(width=8, moe_routing="soft")
    out = model(images(3))
    out.recon.mean().backward()
    assert all(p.grad is None for p in model.posture_head.parameters())
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_soft_routing_mixes_the_experts_by_the_posture_probabilities():
    model = make(width=8, moe_routing="soft").eval()
    model.posture_head = FixedLogits(torch.zeros(4, N_POSTURES))
    out = model(images(4))
    torch.testing.assert_close(out.moe.gate_weights, torch.full((4, N_POSTURES), 1 / N_POSTURES))


def test_routing_override():
    model = make(width=8, moe_routing="oracle")
    logits = torch.tensor([[0.0, 3, 0, 0, 0], [1, 0, 0, 0, 2]])
    model.posture_head = FixedLogits(logits)
    x, posture = images(2), torch.tensor([4, 0])

    soft = model(x, posture, routing="soft")
    torch.testing.assert_close(soft.moe.gate_weights, logits.softmax(dim=1))
    oracle = model(x, posture)  # configured routing is back once the override is gone
    torch.testing.assert_close(oracle.moe.gate_weights, nn.functional.one_hot(posture, N_POSTURES).float())
    predicted = model.eval()(x, posture, routing="predicted")
    torch.testing.assert_close(predicted.moe.gate_weights, nn.functional.one_hot(logits.argmax(1), 5).float())

    soft_model = make(width=8, moe_routing="soft")
    with pytest.raises(ValueError, match="oracle routing needs the true posture labels"):
        soft_model(x, routing="oracle")
    out = soft_model(x, posture, routing="oracle")
    torch.testing.assert_close(out.moe.gate_weights, nn.functional.one_hot(posture, N_POSTURES).float())


def test_invalid_configured_routing_is_rejected():
    with pytest.raises(ValueError, match="moe_routing must be one of"):
        make(width=8, moe_routing="random")


def test_invalid_routing_override_is_rejected():
    model = make(width=8, moe_routing="oracle")
    with pytest.raises(ValueError, match="routing"):
        model(images(2), torch.tensor([0, 1]), routing="orcale")


# --------------------------------------------------------------------------------------------------
# decoder and blocks


def test_expert_decoder_shape_and_range():
    decoder = ExpertDecoder((8, 16, 32, 64), growth=8)
    out = decoder(unet_features(3))
    assert out.shape == (3, 1, SIZE, SIZE)
    assert out.min() >= 0 and out.max() <= 1


def test_expert_decoder_scales_with_the_bottleneck():
    decoder = ExpertDecoder((8, 16, 32, 64), growth=8)
    assert decoder(unet_features(2, size=128)).shape == (2, 1, 128, 128)


def test_posture_experts_hard_and_soft():
    experts = PostureExperts((8, 16, 32, 64))
    assert len(experts.experts) == 5
    assert len(PostureExperts((8, 16, 32, 64), experts=3).experts) == 3
    features = unet_features(4)
    route = torch.tensor([1, 1, 3, 0])
    recon, moe = experts(features, route=route)
    assert recon.shape == (4, 1, SIZE, SIZE)
    torch.testing.assert_close(moe.gate_weights, nn.functional.one_hot(route, 5).float())

    gate = torch.softmax(torch.randn(4, 5), dim=1)
    recon, moe = experts(features, gate=gate)
    assert recon.shape == (4, 1, SIZE, SIZE)
    assert moe.gate_weights is gate

    with pytest.raises(ValueError, match="needs a route"):
        experts(features)


@pytest.mark.parametrize(("c_in", "c_out"), [(8, 8), (8, 16)], ids=["avgpool-shortcut", "conv-shortcut"])
def test_residual_down(c_in, c_out):
    block = ResidualDown(c_in, c_out)
    assert isinstance(block.shortcut, nn.AvgPool2d) == (c_in == c_out)
    assert block(torch.randn(2, c_in, 16, 12)).shape == (2, c_out, 8, 6)


def test_residual_dense_block_keeps_shape():
    block = ResidualDenseBlock(12, growth=8)
    assert len(block.convs) == 5
    assert block.fuse.in_channels == 12 + 5 * 8
    x = torch.randn(2, 12, 4, 4)
    assert block(x).shape == x.shape
    assert ResidualDenseBlock(6, growth=4, layers=3)(torch.randn(1, 6, 5, 5)).shape == (1, 6, 5, 5)


def test_up_step_with_and_without_skip():
    assert UpStep(16, 8)(torch.randn(2, 16, 4, 4)).shape == (2, 8, 8, 8)
    step = UpStep(16, 8, c_skip=12)
    assert step(torch.randn(2, 16, 4, 4), torch.randn(2, 12, 8, 8)).shape == (2, 8, 8, 8)


def test_spatial_reduction():
    conv = SpatialReduction(16, "conv")
    assert conv(torch.randn(2, 16, 4, 4)).shape == (2, 16)
    with pytest.raises(ValueError, match=r"expects a 4x4 bottleneck, got \(8, 8\)"):
        conv(torch.randn(2, 16, 8, 8))
    pool = SpatialReduction(16, "pool")
    assert count_parameters(pool) == 0
    assert pool(torch.randn(2, 16, 8, 8)).shape == (2, 16)  # pooling accepts any size
    with pytest.raises(ValueError, match="'conv' or 'pool'"):
        SpatialReduction(16, "max")


def test_conv_reduction_rejects_a_non_64px_input():
    model = make(width=8)
    with pytest.raises(ValueError, match="4x4 bottleneck"):
        model(torch.rand(2, 1, 128, 128), torch.tensor([0, 1]))
    assert make(width=8, reduction="pool")(torch.rand(2, 1, 128, 128), torch.tensor([0, 1])).recon.shape[-1] == 128


def test_embedding_head_is_unit_norm():
    head = EmbeddingHead(16, hidden=32, dim=8).eval()
    emb = head(torch.randn(5, 16) * 100)
    assert emb.shape == (5, 8)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(5))


@pytest.mark.parametrize("weight", [0.25, 1.0, 3.0])
def test_the_scored_cosine_is_the_weighted_mean_of_the_two_heads_cosines(weight):
    draws = (torch.randn(6, 8, generator=torch.Generator().manual_seed(s)) for s in (1, 2))
    unit = [torch.nn.functional.normalize(x, dim=1) for x in draws]
    scored = scored_embedding(*unit, weight)
    assert scored.shape == (6, 16)
    torch.testing.assert_close(scored.norm(dim=1), torch.ones(6))
    expected = (unit[0] @ unit[0].T + weight * unit[1] @ unit[1].T) / (1 + weight)
    torch.testing.assert_close(scored @ scored.T, expected)
    assert scored_embedding(unit[0], None, 0.0) is unit[0]
    for back, original in zip(split_scored(scored, weight), unit, strict=True):
        torch.testing.assert_close(back, original)


def test_a_twin_head_is_built_only_when_weighted_and_its_embedding_is_scored():
    one, two = make(width=8).eval(), make(width=8, twin_head=0.5).eval()
    assert one.twin_embedding is None and two.twin_embedding is not None
    out = two(images(3), decode=False)
    assert out.emb.shape == (3, 2 * 128) and out.twin_emb.shape == out.identity_emb.shape == (3, 128)
    torch.testing.assert_close(out.emb, scored_embedding(out.identity_emb, out.twin_emb, 0.5))
    torch.testing.assert_close(DeployedNet(two)(images(3))[0], out.emb)  # the exported graph scores the same
    single = one(images(3), decode=False)
    assert single.twin_emb is None and single.identity_emb is single.emb
    with pytest.raises(ValueError, match="twin head"):
        MultiTaskNet(two.encoder, two.reduction, two.embedding, two.posture_head, two.decoder, twin_weight=1.0)


# --------------------------------------------------------------------------------------------------
# parameter counts (published sizes at width 64) and the encoder registry


def test_parameter_counts_match_the_published_sizes():
    model = build_model(ModelConfig(width=64))
    assert 23.4e6 <= count_parameters(model) <= 23.6e6
    assert 4.85e6 <= count_parameters(model.encoder) <= 4.95e6
    for expert in model.decoder.experts:
        assert 2.80e6 <= count_parameters(expert) <= 2.90e6
    assert count_parameters(model.decoder) == sum(count_parameters(e) for e in model.decoder.experts)


def test_invalid_encoder_lists_valid_names():
    with pytest.raises(ValueError, match="model.encoder must be one of") as err:
        build_model(ModelConfig(encoder="vgg16"))  # type: ignore[arg-type]
    assert "resnet18" in str(err.value) and "unet" in str(err.value) and "vgg16" in str(err.value)
