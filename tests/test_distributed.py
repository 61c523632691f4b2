"""Data-parallel training (thz.distributed): real torchrun processes on the CPU (gloo) against one
process with the same global batch, the stage relaunching itself under DVC, and the parts that
need no second process."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from lab.random_pairs import make_pairset
from tests.pairsets import fit_with, tiny_config
from tests.tiny_repo import make_tiny_repo, run
from thz.checkpoint import load_model, save_checkpoint
from thz.config import ConfigError, config_to_dict
from thz.data.samplers import check_rank_split, identity_batches, rank_rows
from thz.distributed import Workers, average_gradients, gather_rows
from thz.losses.objective import MultiTaskObjective
from thz.models import build_model
from thz.models.blocks import PixelShuffle
from thz.models.global_batchnorm import GlobalBatchNorm, convert_batchnorm
from thz.runtime import autocast_dtype, rank_seed, step_seed
from thz.train.tracking import Tracker

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["baseline", "teacher", "student"])
def test_two_processes_compute_the_gradient_of_one_process_with_the_global_batch(variant, tmp_path):
    """One step of each variant (tests/ddp_step.py): loss parts and rank-averaged gradients of two
    gloo processes equal those of one process on the whole batch. Tolerance: 1e-5 relative on each
    loss part and 1e-4 relative (L2 over all parameters) on the gradient; measured 2e-7..3e-6 and
    5e-6 (float32 summation order). If rank 1 did not take part, the gradient would be that of
    half the batch and miss by far more."""
    root = Path(__file__).resolve().parents[1]
    run([sys.executable, "-m", "tests.ddp_step", variant, str(tmp_path / "one.pt")], root)
    run([*TORCHRUN, "-m", "tests.ddp_step", variant, str(tmp_path / "two.pt")], root)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["parts"].keys() == two["parts"].keys()
    for name, value in one["parts"].items():
        assert two["parts"][name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
    assert _relative(two["grads"], one["grads"]) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("share0", [4, 0])
def test_global_batchnorm_on_two_processes_is_batchnorm_of_the_whole_batch(share0, tmp_path):
    """Outputs, input and weight gradients, running statistics: within 1e-3 of nn.BatchNorm2d on
    all 8 rows, for an even split and for an empty share on rank 0, on inputs 40 +- 0.05 (float32
    resolution there is about 5e-5 of a normalised unit; measured 1e-4; combining raw second
    moments instead of (mean, variance) pairs was off by more than 1)."""
    root = Path(__file__).resolve().parents[1]
    run([*TORCHRUN, "-m", "tests.ddp_batchnorm", str(tmp_path / "bn.pt"), str(share0)], root)
    differences = torch.load(tmp_path / "bn.pt")
    assert set(differences) == {"y", "x_grad", "weight_grad", "running_mean", "running_var"}
    assert max(differences.values()) < 1e-3, differences


def _repo_with(tmp_path: Path, **sections) -> Path:
    repo = make_tiny_repo(tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return repo


@pytest.mark.slow
def test_the_stage_under_torchrun_trains_like_one_process_and_only_rank_0_writes(tmp_path):
    """The real stage, started by torchrun with two processes and alone, on the tiny data. No
    dropout and NCHW (see tests/ddp_step.py), so the only differences are float rounding that Adam
    carries through 5 steps: tolerance 1e-3 relative on the weights (L2), 1e-3 on val SSIM and
    1e-4 relative on the logged training loss."""
    repo = _repo_with(tmp_path, model={"dropout": 0.0}, train={"channels_last": False})
    run(["dvc", "repro", "split"], repo)
    stage = ["-m", "stages.train", "--variant", "baseline", "--images", "data/split/fold_0/images.csv"]
    run([sys.executable, *stage, "--out", "one", "--live", "one_live"], repo)
    log = run([*TORCHRUN, *stage, "--out", "two", "--live", "two_live"], repo)
    assert "rank 0 of 2 on cpu" in log and "rank 1 of 2 on cpu" in log  # both took part
    assert log.count("best val ssim") == 1  # one summary: rank 0's
    assert sorted(p.name for p in (repo / "two").iterdir()) == ["best.pt", "last.pt"]
    one_log = pd.read_csv(repo / "one_live/plots/metrics/train/loss.tsv", sep="\t")
    two_log = pd.read_csv(repo / "two_live/plots/metrics/train/loss.tsv", sep="\t")
    assert list(two_log.step) == list(one_log.step) and two_log.step.is_unique  # written once per step
    assert two_log["loss"].to_numpy() == pytest.approx(one_log["loss"].to_numpy(), rel=1e-4)
    one = torch.load(repo / "one/last.pt", weights_only=True)
    two = torch.load(repo / "two/last.pt", weights_only=True)
    assert one["step"] == two["step"] == 5
    floating = [k for k, v in one["model"].items() if v.is_floating_point()]
    flat = [torch.cat([c["model"][k].flatten() for k in floating]) for c in (one, two)]
    assert _relative(flat[1], flat[0]) < 1e-3
    assert two["metrics"]["ssim"] == pytest.approx(one["metrics"]["ssim"], abs=1e-3)
    summary = json.loads((repo / "two_live/metrics.json").read_text())
    assert summary["step"] == 5 and "train_seconds" in summary
    shared = max(1, (os.cpu_count() or 1) // 2)  # the cores shared by the 2 processes
    assert summary["execution"] == {"resume": 0, "threads": shared, "nproc": 2}  # how it ran
    # resume under torchrun: rank 0 reads last.pt and shares it; the finished run has nothing left
    before = (repo / "two/last.pt").read_bytes()
    log = run([*TORCHRUN, *stage, "--out", "two", "--live", "two_live"], repo, THZ_RESUME="1")
    assert log.count("resuming from two/last.pt at step 5 of 5") == 1
    assert (repo / "two/last.pt").read_bytes() == before


@pytest.mark.slow
def test_dvc_repro_with_thz_nproc_2_relaunches_every_training_stage(tmp_path):
    """`THZ_NPROC=2 dvc repro`: the unchanged stage commands run their training as two torchrun
    processes (teacher and distilled student too), and the pipeline completes."""
    repo = _repo_with(tmp_path)
    log = run(["dvc", "repro"], repo, THZ_NPROC="2")
    assert log.count("THZ_NPROC is 2: ") == 3
    for variant in ("baseline", "teacher", "student"):
        assert (repo / f"models/fold_0/{variant}/best.pt").is_file()
    assert log.count("rank 1 of 2 on cpu") == 3
    assert json.loads((repo / "metrics/compare.json").read_text())["student_vs_baseline"]["identities"] == 2


def test_a_rank_other_than_0_trains_but_writes_nothing(tmp_path):
    """fit as rank 1 of 2 (no process group: collectives are no-ops) validates, logs and saves
    nothing, and trains on its half of each batch."""
    cfg = tiny_config(epochs=1)
    train, val = make_pairset(identities=4, seed=0), make_pairset(identities=2, seed=1)
    model = build_model(cfg.model)

    class Spy(Tracker):
        def log(self, step, metrics):
            raise AssertionError("rank 1 logged")

    result = fit_with(
        MultiTaskObjective(model, cfg.loss),
        train,
        val,
        cfg,
        tmp_path / "out",
        tracker=Spy(None),
        on_checkpoint=lambda step: pytest.fail("rank 1 checkpointed"),
        workers=Workers(rank=1, world_size=2),
    )
    assert not (tmp_path / "out").exists()
    assert result.steps > 0 and result.best_step == -1
    assert all(
        isinstance(m, GlobalBatchNorm) for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    )


def test_each_rank_gets_whole_identities_of_the_global_batch():
    identity = make_pairset(identities=6, samples=2).identity
    batch = identity_batches(identity, 4, 3, seed=0, epoch=0)[0]
    shares = [identity[batch[rank_rows(len(batch), 3, 2, r)]] for r in range(2)]
    assert [len(s) for s in shares] == [6, 6]
    for share in shares:  # P/2 = 2 identities x K = 3 images each
        assert sorted(torch.bincount(share).tolist())[-2:] == [3, 3] and len(share.unique()) == 2
    assert not set(shares[0].tolist()) & set(shares[1].tolist())
    check_rank_split(n_identities=14, p=8, k=4, world_size=4)
    with pytest.raises(ConfigError, match=r"train.identities_per_batch.*P=8.*3 training processes"):
        check_rank_split(n_identities=14, p=8, k=4, world_size=3)
    with pytest.raises(ConfigError, match="capped at the 3 train identities"):
        check_rank_split(n_identities=3, p=8, k=4, world_size=2)


def test_collectives_are_the_identity_in_one_process():
    x = torch.randn(4, 3, requires_grad=True)
    assert gather_rows(x) is x
    layer = torch.nn.Linear(3, 1)
    layer(x).sum().backward()
    before = layer.weight.grad.clone()
    average_gradients(list(layer.parameters()))
    assert torch.equal(layer.weight.grad, before)


def test_global_batchnorm_is_batchnorm_in_one_process_and_keeps_checkpoints_loadable(tmp_path):
    cfg = tiny_config()
    torch.manual_seed(0)
    plain = build_model(cfg.model)
    converted = build_model(cfg.model)
    converted.load_state_dict(plain.state_dict())
    convert_batchnorm(converted)
    assert any(isinstance(m, GlobalBatchNorm) for m in converted.modules())
    assert converted.state_dict().keys() == plain.state_dict().keys()
    x, posture = torch.rand(6, 1, 64, 64), torch.randint(0, 5, (6,))
    plain.train(), converted.train()
    outputs = []
    for model in (plain, converted):
        torch.manual_seed(1)  # the same dropout mask
        outputs.append(model(x, posture).emb)
    assert torch.equal(*outputs)  # the same batch statistics
    for a, b in zip(plain.buffers(), converted.buffers(), strict=True):
        assert torch.equal(a, b)  # running statistics updated alike
    save_checkpoint(tmp_path / "c.pt", model=converted.state_dict(), config=config_to_dict(cfg), modalities=["thz"])
    loaded, _ = load_model(tmp_path / "c.pt")
    assert not any(isinstance(m, GlobalBatchNorm) for m in loaded.modules())


def test_pixel_shuffle_backpropagates_through_an_empty_batch():
    for batch in (0, 2):
        x = torch.randn(batch, 8, 4, 4, requires_grad=True)
        y = PixelShuffle(2)(x)
        assert y.shape == (batch, 2, 8, 8)
        y.sum().backward()
        assert x.grad.shape == x.shape
    x = torch.randn(2, 8, 4, 4)
    assert torch.equal(PixelShuffle(2)(x), torch.nn.PixelShuffle(2)(x))


def test_each_rank_draws_its_own_dropout_stream_and_rank_0_the_single_process_one():
    assert rank_seed(3, 10, 0) == step_seed(3, 10)
    seeds = {rank_seed(3, step, rank) for step in range(20) for rank in range(4)}
    assert len(seeds) == 80  # no rank replays another rank's (or another step's) draws
    assert 0 <= rank_seed(3, 10, 1) < 2**63  # a valid torch.manual_seed


def test_precision_setting_per_device(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr("thz.runtime.native_bf16", lambda: False)
    assert autocast_dtype("auto", cpu) is None and autocast_dtype("fp32", cpu) is None
    monkeypatch.setattr("thz.runtime.native_bf16", lambda: True)
    assert autocast_dtype("auto", cpu) == torch.bfloat16 and autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ConfigError, match="train.precision is fp16"):
        autocast_dtype("fp16", cpu)


def test_a_checkpoint_with_an_unknown_config_key_is_refused_naming_it(tmp_path):
    cfg = tiny_config()
    stored = config_to_dict(cfg)
    stored["train"]["bf16"] = True  # a key that existed for one day, before train.precision
    model = build_model(cfg.model)
    save_checkpoint(tmp_path / "old.pt", model=model.state_dict(), config=stored, modalities=["thz"])
    with pytest.raises(ConfigError, match=r"old.pt: unknown key 'train.bf16'"):
        load_model(tmp_path / "old.pt")


def test_a_checkpoint_written_when_resume_threads_nproc_were_params_loads(tmp_path):
    cfg = tiny_config()
    stored = config_to_dict(cfg)
    stored["train"].update(resume=False, threads=0, nproc=1)  # now THZ_* variables (thz.runtime.Execution)
    model = build_model(cfg.model)
    save_checkpoint(tmp_path / "old.pt", model=model.state_dict(), config=stored, modalities=["thz"])
    assert load_model(tmp_path / "old.pt")[1] == cfg


@pytest.mark.slow
def test_two_queued_experiments_run_side_by_side_and_both_show(tmp_path):
    """`dvc exp run --queue` twice, then `THZ_THREADS=1 dvc queue start -j 2`: two workers run the
    pipeline at once, one CPU thread each (the workers inherit the environment of `dvc queue start`,
    so they do not oversubscribe the cores), each in its own workspace; `dvc exp show` lists both
    with their training metrics and the threads they ran with."""
    repo = _repo_with(tmp_path)
    for name, lr in (("lr-high", 0.002), ("lr-low", 0.0005)):
        run(["dvc", "exp", "run", "--queue", "-n", name, "-S", f"train.lr={lr}"], repo)
    run(["dvc", "queue", "start", "-j", "2"], repo, THZ_THREADS="1")
    deadline = time.monotonic() + 900
    while True:
        status = run(["dvc", "queue", "status"], repo)
        if "Queued" not in status and "Running" not in status:
            break
        assert time.monotonic() < deadline, status
        time.sleep(5)
    assert status.count("Success") == 2, status
    table = pd.read_csv(io.StringIO(run(["dvc", "exp", "show", "--csv"], repo)))
    shown = table[table.Experiment.isin(["lr-high", "lr-low"])].set_index("Experiment")
    assert sorted(shown.index) == ["lr-high", "lr-low"] and set(shown.State) == {"Success"}
    assert shown.loc["lr-high", "train.lr"] == 0.002 and shown.loc["lr-low", "train.lr"] == 0.0005
    assert shown["metrics/train/fold_0/student/metrics.json:best/step"].notna().all()  # each trained
    assert list(shown["metrics/train/fold_0/student/metrics.json:execution.threads"].astype(int)) == [1, 1]
