"""The training loop on tiny in-memory data: schedule, learning, determinism, resume, non-finite
guard, validation metrics, checkpoints and DVCLive logging. Width-8 models at 64 px, one thread."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from sklearn.metrics import roc_auc_score

import thz.train.loop as loop
from lab.random_pairs import make_pairset
from tests.pairsets import TINY_MODEL, fit_with, start_run, tiny_config
from thz.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from thz.config import Budget, ConfigError, TrainConfig, config_to_dict
from thz.data.samplers import identity_batches, random_batches
from thz.losses.objective import MultiTaskObjective
from thz.losses.reconstruction import ssim_per_sample
from thz.metrics.verification import cosine_pair_scores
from thz.models import build_model
from thz.train.loop import FitResult, NonFiniteLossError, lr_at, train_step, validate
from thz.train.resume import Params, check_resumable
from thz.train.tracking import Tracker
from thz.train.variants import VARIANTS

LOSS_PARTS = ("supcon", "posture", "charbonnier", "ssim", "gradient", "recon", "loss")
TINY_BUDGET = Budget(epochs=4)


@pytest.fixture(scope="module")
def train_set():
    return make_pairset(identities=4, postures=5, samples=1, seed=0)  # 20 pairs: 5 steps per epoch at P=K=2


@pytest.fixture(scope="module")
def val_set():
    return make_pairset(identities=2, postures=5, samples=1, seed=1)


def _build(cfg):
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model)
    return model, MultiTaskObjective(model, cfg.loss)


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _parameters(model) -> dict[str, torch.Tensor]:
    """Trainable weights only (a forward pass in training mode also moves BatchNorm statistics)."""
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ: {different[:5]}"


# --- learning-rate schedule ---------------------------------------------------------------------


def test_lr_warm_up_rises_linearly_to_lr():
    tc = TrainConfig(lr=1e-3)
    lrs = [lr_at(s, 100, 10, tc) for s in range(10)]
    assert lrs[0] == pytest.approx(1e-4)
    assert lrs[-1] == pytest.approx(1e-3)
    steps = [b - a for a, b in zip(lrs, lrs[1:], strict=False)]
    assert steps == pytest.approx([1e-4] * 9)
    assert lr_at(10, 100, 10, tc) == pytest.approx(1e-3)  # cosine starts at the peak


def test_lr_cosine_decays_monotonically_to_the_floor():
    tc = TrainConfig(lr=2e-3, min_lr_ratio=0.05)
    lrs = [lr_at(s, 100, 10, tc) for s in range(10, 101)]
    assert all(b <= a for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[-1] == pytest.approx(2e-3 * 0.05)  # lr_at(total)
    assert lr_at(55, 100, 10, tc) == pytest.approx(0.5 * (2e-3 + 1e-4))  # half-way: mean of peak and floor
    assert lr_at(99, 100, 10, tc) == pytest.approx(1e-4, rel=0.01)  # the last step trains at about the floor
    assert lr_at(500, 100, 10, tc) == pytest.approx(1e-4)  # past the end it stays at the floor


def test_lr_cosine_with_zero_floor_and_no_warm_up():
    tc = TrainConfig(lr=1e-2, min_lr_ratio=0.0)
    assert lr_at(0, 50, 0, tc) == pytest.approx(1e-2)
    assert lr_at(50, 50, 0, tc) == pytest.approx(0.0, abs=1e-12)


def test_constant_schedule_is_flat_after_warm_up():
    tc = TrainConfig(lr=5e-4, schedule="constant")
    assert [lr_at(s, 40, 4, tc) for s in range(4)] == pytest.approx([1.25e-4, 2.5e-4, 3.75e-4, 5e-4])
    assert {lr_at(s, 40, 4, tc) for s in range(4, 60)} == {5e-4}


def test_lr_is_a_pure_function_of_the_step():
    tc = TrainConfig(lr=1e-3)
    forward = [lr_at(s, 30, 5, tc) for s in range(30)]
    backward = [lr_at(s, 30, 5, tc) for s in reversed(range(30))][::-1]
    assert forward == backward == [lr_at(s, 30, 5, tc) for s in range(30)]


def test_fit_trains_each_step_at_lr_at_on_the_identity_batches(tmp_path, train_set, val_set, monkeypatch):
    cfg = tiny_config(lr=2e-3)
    seen = []
    real_train_step = loop.train_step

    def spy(objective, batch, step, lr, run):
        seen.append((step, lr, batch["identity"].clone()))
        return real_train_step(objective, batch, step, lr, run)

    monkeypatch.setattr(loop, "train_step", spy)
    model, objective = _build(cfg)
    result = fit_with(objective, train_set, val_set, cfg, tmp_path / "run")
    per_epoch = len(identity_batches(train_set.identity, 2, 2, 0, 0))
    total, warmup = 2 * per_epoch, round(0.5 * per_epoch)
    assert result.steps == total == 10
    assert [s for s, _, _ in seen] == list(range(total))
    assert [lr for _, lr, _ in seen] == [lr_at(s, total, warmup, cfg.train) for s in range(total)]
    for step, _, identity in seen:
        epoch_batches = identity_batches(train_set.identity, 2, 2, cfg.seed, step // per_epoch)
        assert torch.equal(identity, train_set.identity[epoch_batches[step % per_epoch]])


def test_fit_with_the_published_objective_trains_on_shuffled_pairs_with_the_twin_term(
    tmp_path, train_set, val_set, monkeypatch
):
    """loss.supcon 0, loss.instance 1, train.sampler random: the batches are random_batches and the
    logged parts carry the instance term, labelled by the pairs the batch holds."""
    cfg = tiny_config(sampler="random")
    cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, supcon=0.0, instance=1.0))
    seen, parts_seen = [], []
    real_train_step = loop.train_step

    def spy(objective, batch, step, lr, run):
        seen.append((step, batch["capture"].clone()))
        parts_seen.append(real_train_step(objective, batch, step, lr, run))
        return parts_seen[-1]

    monkeypatch.setattr(loop, "train_step", spy)
    _, objective = _build(cfg)
    fit_with(objective, train_set, val_set, cfg, tmp_path / "run")
    per_epoch = len(random_batches(len(train_set), 4, 0, 0))
    for step, capture in seen:
        assert torch.equal(capture, random_batches(len(train_set), 4, cfg.seed, step // per_epoch)[step % per_epoch])
    for parts in parts_seen:  # the identity term is computed but weighs nothing
        assert parts["loss"] == pytest.approx(parts["instance"] + parts["posture"] + parts["recon"], rel=1e-5)


# --- learning ------------------------------------------------------------------------------------


def test_repeated_steps_overfit_one_batch():
    pairs = make_pairset(identities=4, postures=2, samples=1, seed=3)  # 8 samples, 4 ids x 2
    cfg = tiny_config(model=dataclasses.replace(TINY_MODEL, dropout=0.0), profile="none", lr=3e-3)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, weight_decay=0.0))
    model, objective = _build(cfg)
    run = start_run(objective, cfg)
    history = []
    for step in range(25):
        parts = train_step(objective, pairs.batch(torch.arange(8)), step, cfg.train.lr, run)
        assert set(parts) == set(LOSS_PARTS) and all(math.isfinite(v) for v in parts.values())
        history.append(parts)
    first, last = history[0], history[-1]
    assert last["loss"] < 0.5 * first["loss"], (first, last)
    for name in ("supcon", "posture", "recon"):
        assert last[name] < 0.8 * first[name], (name, first[name], last[name])


def test_train_step_changes_the_weights_and_returns_floats():
    pairs = make_pairset(identities=2, postures=2, samples=1)
    cfg = tiny_config()
    model, objective = _build(cfg)
    run = start_run(objective, cfg)
    before = _state(model)
    parts = train_step(objective, pairs.batch(torch.arange(4)), 0, 1e-3, run)
    assert all(type(v) is float for v in parts.values())
    assert run.optimizer.param_groups[0]["lr"] == 1e-3
    after = model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


# --- determinism and resume ----------------------------------------------------------------------


def test_fit_is_deterministic(tmp_path, train_set, val_set):
    cfg = tiny_config()
    results, states = [], []
    for name in ("a", "b"):
        model, objective = _build(cfg)
        results.append(fit_with(objective, train_set, val_set, cfg, tmp_path / name))
        states.append(_state(model))
    _assert_same_state(*states)
    assert results[0] == results[1]
    assert isinstance(results[0], FitResult) and results[0].steps == 10


class Interrupted(Exception):
    pass


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path, train_set, val_set):
    cfg = tiny_config()
    per_epoch = len(identity_batches(train_set.identity, 2, 2, 0, 0))

    model_a, objective_a = _build(cfg)
    result_a = fit_with(objective_a, train_set, val_set, cfg, tmp_path / "a")

    def interrupt(step):
        raise Interrupted(step)

    model_b, objective_b = _build(cfg)
    with pytest.raises(Interrupted):
        fit_with(objective_b, train_set, val_set, cfg, tmp_path / "b", on_checkpoint=interrupt)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step"] == per_epoch
    (tmp_path / "b" / ".last.pt.k9x2_w.tmp").write_bytes(b"half a checkpoint")  # as a kill -9 leaves it

    model_c, objective_c = _build(cfg)
    steps = []
    result_c = fit_with(objective_c, train_set, val_set, cfg, tmp_path / "b", on_checkpoint=steps.append, resume=True)

    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["best.pt", "last.pt"]  # the leftover is gone
    assert steps == [2 * per_epoch]  # only the second epoch ran again
    _assert_same_state(_state(model_a), _state(model_c))
    assert result_c == result_a
    for name in ("best.pt", "last.pt"):
        assert (tmp_path / "b" / name).is_file()
        a, b = load_checkpoint(tmp_path / "a" / name), load_checkpoint(tmp_path / "b" / name)
        assert a["step"] == b["step"]
        _assert_same_state(a["model"], b["model"])
        # the same bytes, so the same DVC hash: committing the resumed run invalidates nothing
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step"] == 2 * per_epoch


def test_resume_of_a_finished_run_trains_no_further(tmp_path, train_set, val_set):
    cfg = tiny_config(epochs=1)
    model, objective = _build(cfg)
    first = fit_with(objective, train_set, val_set, cfg, tmp_path)
    trained = _state(model)
    model2, objective2 = _build(cfg)
    again = fit_with(objective2, train_set, val_set, cfg, tmp_path, on_checkpoint=pytest.fail, resume=True)
    assert again == first
    _assert_same_state(trained, _state(model2))


def test_resume_without_last_checkpoint_starts_from_scratch(tmp_path, train_set, val_set):
    cfg = tiny_config(epochs=1)
    model, objective = _build(cfg)
    plain = fit_with(objective, train_set, val_set, cfg, tmp_path / "plain")
    model2, objective2 = _build(cfg)
    fresh = fit_with(objective2, train_set, val_set, cfg, tmp_path / "fresh", resume=True)
    assert fresh == plain
    _assert_same_state(_state(model), _state(model2))


# --- non-finite guard ----------------------------------------------------------------------------


def test_nan_inputs_stop_fit_naming_the_step_and_keep_earlier_checkpoints(tmp_path, val_set, monkeypatch):
    cfg = tiny_config()
    poisoned_step = 7  # after the first checkpoint (step 5), before the second (step 10)
    train_set = make_pairset(identities=4, postures=5, samples=1, seed=0)
    real_batch = train_set.batch
    calls = []

    def batch(index):
        out = real_batch(index)
        if len(calls) == poisoned_step:  # fit draws one training batch per step
            out["input"] = torch.full_like(out["input"], float("nan"))
        calls.append(index)
        return out

    monkeypatch.setattr(train_set, "batch", batch)
    snapshots = {}

    def remember(step):
        snapshots[step] = (_state(model), (tmp_path / "last.pt").read_bytes())

    model, objective = _build(cfg)
    with pytest.raises(NonFiniteLossError) as caught:
        fit_with(objective, train_set, val_set, cfg, tmp_path, on_checkpoint=remember)
    message = str(caught.value)
    assert f"step {poisoned_step}" in message
    for name in LOSS_PARTS:
        assert f"{name}=" in message
    assert "nan" in message
    assert list(snapshots) == [5]
    assert (tmp_path / "last.pt").read_bytes() == snapshots[5][1]  # left as it was
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["step"] == 5
    _assert_same_state(last["model"], snapshots[5][0])
    assert load_checkpoint(tmp_path / "best.pt")["step"] == 5


def test_infinite_loss_at_the_first_step_writes_no_checkpoint(tmp_path, train_set, val_set):
    cfg = tiny_config()
    model, _ = _build(cfg)

    class InfiniteInTraining(MultiTaskObjective):
        def __call__(self, batch):
            parts = super().__call__(batch)
            if model.training:
                parts["loss"] = parts["loss"] * float("inf")
            return parts

    before = _parameters(model)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 0: supcon=.*loss=inf"):
        fit_with(InfiniteInTraining(model, cfg.loss), train_set, val_set, cfg, tmp_path)
    assert not (tmp_path / "last.pt").exists() and not (tmp_path / "best.pt").exists()
    _assert_same_state(before, _parameters(model))


def test_non_finite_gradient_leaves_the_weights_unchanged():
    pairs = make_pairset(identities=2, postures=2, samples=1)
    cfg = tiny_config()
    model, _ = _build(cfg)
    weight = next(model.parameters())

    class InfiniteDerivative(MultiTaskObjective):
        def __call__(self, batch):
            parts = super().__call__(batch)
            # value 0 (the loss stays finite) but an infinite derivative: sqrt'(0) = inf, times 0 is nan
            parts["loss"] = parts["loss"] + 0.0 * torch.sqrt(weight - weight.detach()).sum()
            return parts

    objective = InfiniteDerivative(model, cfg.loss)
    run = start_run(objective, cfg)
    before = _parameters(model)
    with pytest.raises(NonFiniteLossError, match=r"non-finite gradient at step 3 \(loss parts: supcon="):
        train_step(objective, pairs.batch(torch.arange(4)), 3, 1e-3, run)
    _assert_same_state(before, _parameters(model))
    assert not run.optimizer.state  # AdamW never stepped


# --- validation ----------------------------------------------------------------------------------


def test_validate_scores_the_embeddings_losses_and_reconstructions_of_the_whole_part(train_set, val_set):
    cfg = tiny_config()
    model, objective = _build(cfg)
    model.train()
    metrics = validate(objective, val_set)
    assert model.training  # mode restored
    assert {"loss", "ssim", "posture_acc", "auc", "eer"} <= set(metrics)
    assert {f"loss_{k}" for k in LOSS_PARTS if k != "loss"} <= set(metrics)
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values()), metrics
    # the same numbers computed here by hand, in eval mode on the whole part at once
    model.eval()
    batch = val_set.batch(torch.arange(len(val_set)))
    with torch.no_grad():
        out = objective.forward(batch)
        parts = objective.parts(out, batch)
    n = len(val_set)
    emb_in, emb_target = out.emb[:n], out.emb[n:]
    scores = cosine_pair_scores(emb_in.numpy(), emb_target.numpy()).ravel()
    genuine = (val_set.identity[:, None] == val_set.identity[None, :]).numpy().ravel()
    assert metrics["auc"] == pytest.approx(roc_auc_score(genuine, scores), abs=1e-6)
    assert metrics["loss"] == pytest.approx(float(parts["loss"]), rel=1e-4)
    assert metrics["ssim"] == pytest.approx(float(ssim_per_sample(out.recon, batch["target"]).mean()), rel=1e-5)
    assert metrics["posture_acc"] == int((out.posture_logits[:n].argmax(1) == val_set.posture).sum()) / n
    assert validate(objective, val_set)["ssim"] == metrics["ssim"]  # validate always runs in eval mode
    assert not model.training


def test_validate_metrics_do_not_depend_on_the_batch_size(val_set):
    cfg = tiny_config()
    model, objective = _build(cfg)
    whole = validate(objective, val_set)
    chunked = validate(objective, val_set, batch_size=3)
    for name in ("ssim", "posture_acc", "loss_charbonnier", "loss_posture"):
        assert chunked[name] == pytest.approx(whole[name], rel=1e-4, abs=1e-6), name
    # an untrained network maps every face to nearly the same embedding (cosines within 1e-5 of
    # each other), so float noise of other batch shapes may swap a pair or two in the ranking
    for name in ("auc", "eer"):
        assert chunked[name] == pytest.approx(whole[name], abs=0.02), name


def test_validate_posture_accuracy_counts_argmax_hits(val_set):
    cfg = tiny_config()
    model, objective = _build(cfg)
    with torch.no_grad():
        model.eval()
        logits = model(val_set.batch(torch.arange(len(val_set)))["input"], decode=False).posture_logits
    expected = float((logits.argmax(1) == val_set.posture).float().mean())
    assert validate(objective, val_set)["posture_acc"] == pytest.approx(expected)


# --- checkpoints ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, train_set, val_set):
    """One fit validating every 2 steps (0.4 of a 5-step epoch), selecting on the loss; the weights
    at every checkpoint."""
    out = tmp_path_factory.mktemp("trained")
    cfg = tiny_config(val_every=0.4, select_metric="loss")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, objective = _build(cfg)
        states = {}
        result = fit_with(
            objective, train_set, val_set, cfg, out, on_checkpoint=lambda s: states.update({s: _state(model)})
        )
    finally:
        torch.set_num_threads(threads)
    return out, cfg, result, states


def test_checkpoints_at_every_validation(trained):
    out, cfg, result, states = trained
    assert list(states) == [2, 4, 6, 8, 10]
    assert result.steps == 10 and result.best_step in states


def test_load_model_rebuilds_the_best_network(trained):
    out, cfg, result, states = trained
    model, loaded_cfg = load_model(out / "best.pt")
    assert loaded_cfg == cfg
    assert not model.training
    _assert_same_state(_state(model), states[result.best_step])
    best = load_checkpoint(out / "best.pt")
    assert best["step"] == result.best_step
    assert best["metrics"]["loss"] == pytest.approx(result.best_metric)


def test_last_checkpoint_holds_the_resume_state(trained):
    out, cfg, result, states = trained
    last = load_checkpoint(out / "last.pt")
    assert last["step"] == result.steps
    assert last["best_step"] == result.best_step and last["best_metric"] == result.best_metric
    assert last["metrics"] == result.last_metrics
    _assert_same_state(last["model"], states[result.steps])
    assert last["optimizer"]["state"]  # AdamW moments for resume


def test_checkpoints_load_with_weights_only(trained):
    out = trained[0]
    for name in ("best.pt", "last.pt"):
        ckpt = torch.load(out / name, map_location="cpu", weights_only=True)
        assert ckpt["format_version"] == 1
        assert isinstance(ckpt["config"], dict) and ckpt["config"]["model"]["width"] == 8


def test_missing_checkpoint_raises_naming_the_file(tmp_path):
    missing = tmp_path / "nowhere" / "best.pt"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_model(missing)
    with pytest.raises(FileNotFoundError, match="best.pt"):
        load_checkpoint(missing)


def test_foreign_file_is_refused(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt"):
        load_checkpoint(tmp_path / "other.pt")


def test_loaded_model_computes_what_the_trained_one_did(trained, val_set):
    out, cfg, result, states = trained
    model, _ = load_model(out / "last.pt")
    reference = build_model(cfg.model)
    reference.load_state_dict(states[result.steps])
    reference.eval()
    x = val_set.batch(torch.arange(4))["input"]
    with torch.no_grad():
        assert torch.equal(model(x).emb, reference(x).emb)


# --- tracking ------------------------------------------------------------------------------------


def test_dvclive_tracker_logs_metrics_and_plots_without_dvc_yaml(tmp_path, train_set, val_set, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    cfg = tiny_config(epochs=1, val_every=0.4)
    model, objective = _build(cfg)
    tracker = Tracker(tmp_path / "live")
    fit_with(objective, train_set, val_set, cfg, tmp_path / "out", tracker=tracker)

    metrics = json.loads((tmp_path / "live" / "metrics.json").read_text())
    last = load_checkpoint(tmp_path / "out" / "last.pt")["metrics"]  # the last validation, as logged
    assert metrics["val"] == pytest.approx(last)
    assert "loss" in metrics["train"] and "lr" in metrics
    assert metrics["step"] == 5
    plots = tmp_path / "live" / "plots"
    tsvs = sorted(p.relative_to(plots).as_posix() for p in plots.rglob("*.tsv"))
    assert "metrics/val/ssim.tsv" in tsvs and "metrics/train/loss.tsv" in tsvs and "metrics/lr.tsv" in tsvs
    rows = (plots / "metrics" / "val" / "ssim.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:2] == ["step", "ssim"]
    assert [int(r.split("\t")[0]) for r in rows[1:]] == [2, 4, 5]

    tracker.summary({"best": {"loss": 1.0}})
    tracker.close()
    # at the end only the run's summary: the series' last values stay in the plots, not as metrics
    assert json.loads((tmp_path / "live" / "metrics.json").read_text()) == {"best": {"loss": 1.0}, "step": 5}
    assert [int(r.split("\t")[0]) for r in (plots / "metrics/val/ssim.tsv").read_text().splitlines()[1:]] == [2, 4, 5]
    assert not list(tmp_path.rglob("dvc.yaml"))
    assert not list(tmp_path.rglob("dvc.lock")) and not (tmp_path / ".dvc").exists()


def test_tracker_summary_keeps_the_last_logged_step(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    tracker = Tracker(tmp_path / "live")
    tracker.log(5, {"val/ssim": 0.5})
    assert json.loads((tmp_path / "live" / "metrics.json").read_text())["step"] == 5
    tracker.summary({"best": {"ssim": 0.5}})
    tracker.close()
    assert json.loads((tmp_path / "live" / "metrics.json").read_text())["step"] == 5


def test_resume_refuses_changed_params_but_not_the_execution_keys_of_an_older_checkpoint(tmp_path):
    cfg = tiny_config()
    stored = config_to_dict(cfg)
    stored["train"].update(resume=True, threads=1, nproc=2)  # params until they became THZ_* variables
    check_resumable(stored, Params.of(cfg), tmp_path / "last.pt")
    changed = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, select_metric="loss"))
    with pytest.raises(ConfigError, match=r"last.pt: cannot resume, .*: train.select_metric$"):
        check_resumable(stored, Params.of(changed), tmp_path / "last.pt")


def test_a_resume_compares_what_the_variant_reads_and_nothing_else():
    """Each variant's declaration says what its resume compares: the teacher's ignores distill.* and
    the other models' budgets, the student's its own budget and distill.* included."""
    cfg = tiny_config()
    stored = config_to_dict(cfg)
    student_budget = dataclasses.replace(cfg.budget.student, epochs=9)
    changed = dataclasses.replace(
        cfg,
        distill=dataclasses.replace(cfg.distill, rkd_angle=0.0),
        budget=dataclasses.replace(cfg.budget, student=student_budget),
    )
    with pytest.raises(
        ConfigError, match=r"differ from the interrupted run: budget.student.epochs, distill.rkd_angle$"
    ):
        check_resumable(stored, VARIANTS["student"].params(changed), "last.pt")
    for variant in ("baseline", "teacher"):  # neither reads them
        check_resumable(stored, VARIANTS[variant].params(changed), "last.pt")
    with pytest.raises(ConfigError, match=r"run: budget.student.epochs$"):
        check_resumable(stored, Params.of(changed, ("train", "budget.student")), "last.pt")


def test_equal_checkpoints_are_equal_bytes_whatever_the_file_name(tmp_path):
    """DVC hashes outputs by content: two clones training the same weights must write the same bytes."""
    content = {"model": {"w": torch.arange(6.0)}, "step": 3}
    save_checkpoint(tmp_path / "a" / "best.pt", **content)
    save_checkpoint(tmp_path / "other_name.pt", **content)
    assert (tmp_path / "a" / "best.pt").read_bytes() == (tmp_path / "other_name.pt").read_bytes()


def test_resume_from_a_truncated_last_checkpoint_says_what_to_do(tmp_path, train_set, val_set):
    cfg = tiny_config(epochs=1)
    _, objective = _build(cfg)
    fit_with(objective, train_set, val_set, cfg, tmp_path)
    last = tmp_path / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(
        CheckpointError, match=r"last.pt: not a readable thz checkpoint .*delete it to train from step 0"
    ):
        fit_with(_build(cfg)[1], train_set, val_set, cfg, tmp_path, resume=True)


def test_fit_says_when_the_batch_settings_are_bent(tmp_path, train_set, val_set, capsys):
    cfg = tiny_config(epochs=1, identities_per_batch=9)
    fit_with(_build(cfg)[1], train_set, val_set, cfg, tmp_path)
    n = len(train_set.identities)
    assert (
        f"note: train.identities_per_batch is 9 but the train part has {n} identities: P={n}" in capsys.readouterr().out
    )


def test_adversarial_completion_trains_the_discriminator_and_resumes_exactly(tmp_path, train_set, val_set):
    """With loss.adversarial the discriminator takes a step after every decoder step, with its own
    optimiser; both are in last.pt, and an interrupted run resumed equals an uninterrupted one."""
    cfg = tiny_config()
    cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, adversarial=0.1))
    per_epoch = len(identity_batches(train_set.identity, 2, 2, 0, 0))

    model_a, objective_a = _build(cfg)
    initial = _parameters(objective_a.adversary.discriminator)
    fit_with(objective_a, train_set, val_set, cfg, tmp_path / "a")
    trained = _parameters(objective_a.adversary.discriminator)
    assert all(not torch.equal(initial[k], trained[k]) for k in initial), "the discriminator learns"
    last = load_checkpoint(tmp_path / "a" / "last.pt")
    _assert_same_state(last["adversary"]["discriminator"], _state(objective_a.adversary.discriminator))
    assert last["adversary"]["optimizer"]["state"], "its Adam moments are saved"
    assert "adversary" not in load_checkpoint(tmp_path / "a" / "best.pt")  # the model alone, as ever

    def interrupt(step):
        raise Interrupted(step)

    _, objective_b = _build(cfg)
    with pytest.raises(Interrupted):
        fit_with(objective_b, train_set, val_set, cfg, tmp_path / "b", on_checkpoint=interrupt)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step"] == per_epoch
    model_c, objective_c = _build(cfg)
    fit_with(objective_c, train_set, val_set, cfg, tmp_path / "b", resume=True)
    _assert_same_state(_state(model_a), _state(model_c))
    _assert_same_state(_state(objective_a.adversary.discriminator), _state(objective_c.adversary.discriminator))


def test_train_step_logs_the_discriminator_loss(train_set):
    cfg = tiny_config()
    cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, adversarial=0.1, adversarial_loss="lsgan"))
    _, objective = _build(cfg)
    run = start_run(objective, cfg)
    parts = train_step(objective, train_set.batch(torch.arange(4)), 0, 1e-3, run)
    assert {"adversarial", "discriminator"} <= set(parts) and math.isfinite(parts["discriminator"])
    assert objective.after_step(1e-3, 1.0) == {}, "the reconstructions are used once, by the discriminator's step"


def test_a_checkpoint_older_than_a_key_resumes_when_the_key_keeps_its_default():
    """last.pt written before loss.instance existed: the key counts as its default (0, off)."""
    cfg = tiny_config()
    stored = config_to_dict(cfg)
    del stored["loss"]["instance"], stored["train"]["sampler"]
    check_resumable(stored, Params.of(cfg), "last.pt")
    twin = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, instance=1.0))
    with pytest.raises(ConfigError, match=r"run: loss.instance$"):
        check_resumable(stored, Params.of(twin), "last.pt")


def test_a_checkpoint_written_before_the_budget_section_loads_and_resumes_under_its_budget(tmp_path):
    """Checkpoints of the code before budget.* (train.epochs and the curriculum for the baseline and
    the student, teacher.epochs) read their keys in their new places."""
    cfg = tiny_config(epochs=3)
    stored = config_to_dict(cfg)
    del stored["budget"]
    stored["train"].update(epochs=3, pretrain_epochs=0, heads_epochs=0, mask_ratio=0.5, mask_patch=8)
    stored["teacher"]["epochs"] = 3
    check_resumable(stored, VARIANTS["student"].params(cfg), "last.pt")
    longer = dataclasses.replace(cfg, budget=dataclasses.replace(cfg.budget, baseline=TINY_BUDGET))
    with pytest.raises(ConfigError, match=r"run: budget.baseline.epochs$"):
        check_resumable(stored, VARIANTS["baseline"].params(longer), "last.pt")
    model = build_model(cfg.model)
    save_checkpoint(tmp_path / "old.pt", model=model.state_dict(), config=stored, modalities=["thz"])
    assert load_model(tmp_path / "old.pt")[1] == cfg
