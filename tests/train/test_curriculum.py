"""The multi-stage curriculum of a model's budget: which phases run, what each one trains (and
leaves bit-identical, BatchNorm statistics included), masked reconstruction, per-phase learning
rate, best.pt only from the final phase, and resume across a phase boundary."""

from __future__ import annotations

import pytest
import torch

import thz.train.loop as loop
from lab.random_pairs import make_pairset
from tests.pairsets import fit_with, start_run, tiny_config
from thz.checkpoint import load_checkpoint
from thz.config import Budget
from thz.losses.objective import MaskedReconstructionObjective, MultiTaskObjective
from thz.models import build_model
from thz.train.curriculum import Phase, apply_phase, plan_phases
from thz.train.loop import lr_at, train_step

HEADS = ("reduction", "embedding", "posture_head")


@pytest.fixture(scope="module")
def train_set():
    return make_pairset(identities=4, postures=5, samples=1, seed=0)  # 5 steps per epoch at P=K=2


@pytest.fixture(scope="module")
def val_set():
    return make_pairset(identities=2, postures=5, samples=1, seed=1)


def test_one_joint_phase_by_default():
    assert plan_phases(Budget(epochs=7)) == (Phase("joint", 7, ()),)


def test_three_phases_in_order_and_zero_epochs_skip_a_phase():
    phases = plan_phases(Budget(pretrain_epochs=2, heads_epochs=3, epochs=4, mask_ratio=0.3, mask_patch=4))
    assert [(p.name, p.epochs) for p in phases] == [("pretrain", 2), ("heads", 3), ("joint", 4)]
    assert phases[0].frozen == HEADS and "encoder" in phases[1].frozen and phases[2].frozen == ()
    assert phases[0].masking == (0.3, 4) and phases[1].masking is None and phases[2].masking is None
    assert [p.name for p in plan_phases(Budget(heads_epochs=1, epochs=1))] == ["heads", "joint"]


def test_every_model_has_its_own_budget_and_by_default_one_joint_phase():
    """The teacher's 10 epochs and the others' 24 (the defaults), each a single joint phase."""
    from thz.config import Config
    from thz.train.variants import VARIANTS

    plans = {name: variant.plan(Config()) for name, variant in VARIANTS.items()}
    assert {name: plan.phases for name, plan in plans.items()} == {
        "baseline": (Phase("joint", 24, ()),),
        "teacher": (Phase("joint", 10, ()),),
        "student": (Phase("joint", 24, ()),),
    }


def _module_states(model) -> dict[str, dict[str, torch.Tensor]]:
    return {
        name: {k: v.detach().clone() for k, v in module.state_dict().items()} for name, module in model.named_children()
    }


def _changed_modules(before, model) -> set[str]:
    return {
        name
        for name, module in model.named_children()
        if any(not torch.equal(before[name][k], v) for k, v in module.state_dict().items())
    }


@pytest.mark.parametrize(
    ("phase", "trained"),
    [
        (Phase("pretrain", 1, HEADS, (0.5, 8)), {"encoder", "decoder"}),
        (Phase("heads", 1, ("encoder", "visible_encoder")), {"reduction", "embedding", "posture_head", "decoder"}),
        (Phase("joint", 1, ()), {"encoder", "reduction", "embedding", "posture_head", "decoder"}),
    ],
)
def test_each_phase_trains_only_what_it_should(train_set, phase, trained):
    cfg = tiny_config()
    torch.manual_seed(0)
    model = build_model(cfg.model)
    task = MultiTaskObjective(model, cfg.loss)
    objective = loop._phase_objective(phase, task)
    run = start_run(task, cfg)
    before = _module_states(model)
    for step in range(2):
        model.train()
        apply_phase(model, phase)
        train_step(objective, train_set.batch(torch.arange(8)), step, 1e-2, run)
    assert _changed_modules(before, model) == trained  # weights and BatchNorm statistics


def test_apply_phase_freezes_gradients_and_normalisation_statistics():
    model = build_model(tiny_config().model).train()
    apply_phase(model, Phase("heads", 1, ("encoder",)))
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert not model.encoder.training and model.embedding.training
    apply_phase(model, Phase("joint", 1, ()))  # unfreezing restores gradients (the engine calls train() first)
    assert all(p.requires_grad for p in model.parameters())


def test_masked_reconstruction_hides_the_requested_share_of_squares():
    objective = MaskedReconstructionObjective(None, ratio=0.5, patch=8)
    torch.manual_seed(0)
    keep = objective.keep_mask(torch.ones(64, 1, 64, 64))
    assert set(keep.unique().tolist()) == {0.0, 1.0}
    assert keep.mean().item() == pytest.approx(0.5, abs=0.03)
    squares = keep.reshape(64, 8, 8, 8, 8)  # every 8x8 square is all kept or all hidden
    assert (squares.amin(dim=(2, 4)) == squares.amax(dim=(2, 4))).all()


def test_masked_reconstruction_rebuilds_the_unmasked_images(train_set):
    cfg = tiny_config()
    model = build_model(cfg.model).train()
    task = MultiTaskObjective(model, cfg.loss)
    seen = []
    model.register_forward_hook(lambda mod, inp, out: seen.append((inp[0], out.recon)))
    batch = train_set.batch(torch.arange(6))
    torch.manual_seed(0)
    parts = MaskedReconstructionObjective(task, ratio=0.5, patch=8)(batch)
    assert set(parts) >= {"recon", "loss", "charbonnier", "ssim"} and "supcon" not in parts
    ((inputs, recon),) = seen
    images = torch.cat([batch["input"], batch["target"]])
    assert recon.shape == images.shape  # every image (concealed and unconcealed) is decoded
    hidden = inputs != images
    assert hidden.any() and (inputs[hidden] == 0).all()
    torch.testing.assert_close(parts["recon"], task.recon_parts(recon, images)["recon"])


def test_fit_runs_the_phases_in_order_with_a_learning_rate_schedule_each(tmp_path, train_set, val_set, monkeypatch):
    cfg = tiny_config(pretrain_epochs=1, heads_epochs=1, epochs=2, warmup_epochs=0.4)
    seen = []
    real = loop.train_step

    def spy(objective, batch, step, lr, run):
        seen.append((step, type(objective).__name__, run.model.encoder.training, lr))
        return real(objective, batch, step, lr, run)

    monkeypatch.setattr(loop, "train_step", spy)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    result = fit_with(MultiTaskObjective(model, cfg.loss), train_set, val_set, cfg, tmp_path)
    assert result.steps == 20 and [s for s, *_ in seen] == list(range(20))
    kinds = [name for _, name, _, _ in seen]
    assert kinds == ["MaskedReconstructionObjective"] * 5 + ["MultiTaskObjective"] * 15
    assert [enc for *_, enc, _ in seen] == [True] * 5 + [False] * 5 + [True] * 10  # frozen in "heads"
    warmup = round(0.4 * 5)
    expected = [lr_at(s, 5, warmup, cfg.train) for s in range(5)] * 2 + [
        lr_at(s, 10, warmup, cfg.train) for s in range(10)
    ]
    assert [lr for *_, lr in seen] == pytest.approx(expected)
    assert load_checkpoint(tmp_path / "best.pt")["step"] > 10  # chosen in the joint phase only


def test_warm_up_never_takes_more_than_half_a_phase(tmp_path, train_set, val_set, monkeypatch):
    cfg = tiny_config(pretrain_epochs=1, epochs=1, warmup_epochs=4.0)  # 20 steps of warm-up, 5-step phases
    lrs = []
    real = loop.train_step
    monkeypatch.setattr(
        loop,
        "train_step",
        lambda objective, batch, step, lr, run: lrs.append(lr) or real(objective, batch, step, lr, run),
    )
    model = build_model(cfg.model)
    fit_with(MultiTaskObjective(model, cfg.loss), train_set, val_set, cfg, tmp_path)
    assert max(lrs[:5]) == pytest.approx(cfg.train.lr) and max(lrs[5:]) == pytest.approx(cfg.train.lr)


def test_resume_across_a_phase_boundary_equals_the_uninterrupted_run(tmp_path, train_set, val_set):
    cfg = tiny_config(pretrain_epochs=1, heads_epochs=1, epochs=1)

    def run(directory, config, on_checkpoint=None, resume=False):
        torch.manual_seed(0)
        model = build_model(config.model)
        return fit_with(
            MultiTaskObjective(model, config.loss),
            train_set,
            val_set,
            config,
            directory,
            on_checkpoint=on_checkpoint,
            resume=resume,
        )

    run(tmp_path / "a", cfg)

    class Stop(Exception):
        pass

    def interrupt(step):
        if step == 5:  # the end of the pretrain phase
            raise Stop

    with pytest.raises(Stop):
        run(tmp_path / "b", cfg, interrupt)
    run(tmp_path / "b", cfg, resume=True)
    a, b = load_checkpoint(tmp_path / "a/last.pt"), load_checkpoint(tmp_path / "b/last.pt")
    assert a["step"] == b["step"] == 15
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_the_teacher_has_a_curriculum_of_its_own_budget(tmp_path, train_set, val_set):
    """budget.teacher gives the teacher the same phases: the masked phase hides the same squares of
    its visible images, the heads phase freezes the visible encoder too."""
    import dataclasses

    from tests.pairsets import with_visible
    from thz.config import PUBLISHED_VISIBLE, TeacherConfig

    cfg = dataclasses.replace(tiny_config(epochs=1), teacher=TeacherConfig(heads=4, **PUBLISHED_VISIBLE))
    cfg = dataclasses.replace(
        cfg, budget=dataclasses.replace(cfg.budget, teacher=Budget(epochs=1, pretrain_epochs=1, heads_epochs=1))
    )
    torch.manual_seed(0)
    teacher = build_model(cfg.model, cfg.teacher)
    visible = with_visible(train_set)
    before = {k: v.clone() for k, v in teacher.visible_encoder.state_dict().items()}
    result = fit_with(
        MultiTaskObjective(teacher, cfg.loss), visible, with_visible(val_set), cfg, tmp_path, variant="teacher"
    )
    assert result.steps == 15 and load_checkpoint(tmp_path / "best.pt")["step"] > 10
    assert any(not torch.equal(before[k], v) for k, v in teacher.visible_encoder.state_dict().items())
