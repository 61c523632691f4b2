"""params.yaml loads strictly: typos and out-of-range values fail naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from thz.config import (
    AugmentConfig,
    Config,
    ConfigError,
    ModelConfig,
    TrainConfig,
    choices,
    config_from_dict,
    config_to_dict,
    load_config,
    without_moved,
)
from thz.runtime import Execution

ROOT = Path(__file__).resolve().parents[1]


def test_params_yaml_loads_and_equals_the_defaults():
    # thz/config.py is the one place defaults live; params.yaml spells them out for DVC.
    assert load_config(ROOT / "params.yaml") == Config()


def test_round_trip_through_plain_dict():
    cfg = Config()
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_typo_names_key_and_closest_valid_one():
    with pytest.raises(ConfigError, match=r"unknown key 'trian'.*") as err:
        config_from_dict({"trian": {"epochs": 3}})
    assert "valid keys" in str(err.value)
    with pytest.raises(ConfigError, match=r"unknown key 'simulate.identites'; did you mean 'simulate.identities'"):
        config_from_dict({"simulate": {"identites": 10}})


def test_out_of_range_names_key_and_range():
    with pytest.raises(ConfigError, match=r"'simulate.noise' = 2.0 is out of range \[0.0, 0.5\]"):
        config_from_dict({"simulate": {"noise": 2.0}})
    with pytest.raises(ConfigError, match=r"'split.folds' = 0 is out of range"):
        config_from_dict({"split": {"folds": 0}})


def test_run_folds_must_name_distinct_existing_folds():
    assert config_from_dict({"split": {"folds": 4, "run_folds": [3, 1]}}).split.run_folds == (3, 1)
    for wrong in ([0, 4], [], [1, 1], [-1]):
        with pytest.raises(ConfigError, match=r"params: 'split.run_folds' = .*0\.\.3 \(split.folds = 4\)") as err:
            config_from_dict({"split": {"folds": 4, "run_folds": wrong}})
        assert "-S 'split.run_folds=[0,1,2,3]'" in str(err.value)
    with pytest.raises(ConfigError, match=r"'split.run_folds' = \[5\]"):
        config_from_dict({"split": {"run_folds": [5]}})  # five folds by default: 0..4


def test_default_params_cross_validate_every_identity():
    """params.yaml as committed: K-fold cross-validation by identity over every fold, so `dvc repro`
    tests each simulated identity exactly once and compare pools them all."""
    cfg = load_config(ROOT / "params.yaml")
    assert cfg.data.source == "simulated" and cfg.simulate.identities == 20
    assert cfg.split.folds == 5 and cfg.split.run_folds == tuple(range(cfg.split.folds))
    assert not cfg.split.test_identities and not cfg.split.val_identities  # drawn per fold, not fixed


def test_wrong_types_and_choices():
    with pytest.raises(ConfigError, match="'simulate.identities' must be an integer"):
        config_from_dict({"simulate": {"identities": 2.5}})
    with pytest.raises(ConfigError, match="'data.strict' must be true or false"):
        config_from_dict({"data": {"strict": "yes"}})
    with pytest.raises(ConfigError, match=r"'data.source' must be one of \['simulated', 'folder', 'triplets'\]"):
        config_from_dict({"data": {"source": "webcam"}})
    with pytest.raises(ConfigError, match="'split' must be a section"):
        config_from_dict({"split": 3})


def test_eval_flip_is_a_bool_named_in_every_refusal():
    assert config_from_dict({"eval": {"flip": True}}).eval.flip is True
    assert Config().eval.flip is False  # off until measured (docs/evaluation.md)
    for wrong in ("yes", 1, None):  # a quoted or numeric flag is refused, not read as true
        with pytest.raises(ConfigError, match=r"'eval.flip' must be true or false, got"):
            config_from_dict({"eval": {"flip": wrong}})
    with pytest.raises(ConfigError, match=r"unknown key 'eval.flipped'; did you mean 'eval.flip'"):
        config_from_dict({"eval": {"flipped": True}})


def test_identity_names_must_be_quoted_strings():
    with pytest.raises(ConfigError, match=r"split.test_identities\[1\]' must be a string; quote it"):
        config_from_dict({"split": {"test_identities": ["s01", 7]}})
    cfg = config_from_dict({"split": {"test_identities": ["s01", "07"]}})
    assert cfg.split.test_identities == ("s01", "07")


def test_ints_are_accepted_for_floats():
    assert config_from_dict({"simulate": {"noise": 0}}).simulate.noise == 0.0


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_a_duplicate_key_is_refused_naming_both_lines(tmp_path):
    """PyYAML keeps the last of two equal keys (DVC's loader refuses the file): a second `data:`
    section would silently discard the first, so the stages refuse it too."""
    params = tmp_path / "params.yaml"
    params.write_text("data:\n  strict: false\ntrain:\n  lr: 0.1\ndata:\n  image_size: 64\n")
    with pytest.raises(ConfigError, match=r"params.yaml: duplicate key 'data' at line 5 \(first at line 1\)"):
        load_config(params)
    params.write_text("train:\n  lr: 0.1\n  sampler: random\n  lr: 0.5\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'lr' at line 4 \(first at line 2\)"):
        load_config(params)


def test_numbers_are_read_as_dvc_reads_them(tmp_path):
    """YAML 1.2 (DVC's ruamel.yaml) reads 1e-4 as a number; PyYAML's YAML 1.1 as a string."""
    params = tmp_path / "params.yaml"
    params.write_text(
        "train:\n  lr: 1e-4\n  weight_decay: 5E-5\n  identities_per_batch: 3\nloss:\n  temperature: 1.0e-1\n"
    )
    cfg = load_config(params)
    assert (cfg.train.lr, cfg.train.weight_decay, cfg.train.identities_per_batch) == (1e-4, 5e-5, 3)
    assert cfg.loss.temperature == 0.1
    params.write_text("train:\n  lr: .nan\n")
    with pytest.raises(ConfigError, match=r"'train.lr' must be a finite number, got nan"):
        load_config(params)


def test_a_split_part_of_one_identity_is_refused_when_params_are_read():
    """The split needs two identities per part (a negative needs another identity): the config
    says so before any stage runs, instead of the split stage after simulate and scan."""
    for key in ("n_val_identities", "n_test_identities"):
        with pytest.raises(ConfigError, match=rf"'split.{key}' = 1 is out of range \[2, inf\]"):
            config_from_dict({"split": {key: 1}})
    with pytest.raises(ConfigError, match=r"'split.val_identities' = \['s01'\]: expected at least 2 identities"):
        config_from_dict({"split": {"val_identities": ["s01"]}})
    assert config_from_dict({"split": {"n_val_identities": 2, "n_test_identities": 2}}).split.n_val_identities == 2


def _stage_bodies() -> dict[str, dict]:
    """dvc.yaml's stages, the body of a foreach stage in place of its template."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def test_every_stage_params_section_exists():
    stages = _stage_bodies()
    sections = set(config_to_dict(Config()))
    for name, stage in stages.items():
        for entry in stage.get("params", []):
            key = entry if isinstance(entry, str) else next(iter(entry))
            assert key.split(".")[0] in sections, f"stage {name} lists unknown params section {key}"
    for name, stage in stages.items():  # dotted keys must exist too
        for entry in stage.get("params", []):
            section, _, key = entry.partition(".")
            assert not key or key in config_to_dict(Config())[section], f"stage {name}: unknown key {entry}"


def test_sections_that_must_agree_are_checked_when_params_are_read():
    assert config_from_dict(
        {"data": {"image_size": 32}, "simulate": {"image_size": 32}, "model": {"reduction": "pool"}}
    )
    with pytest.raises(ConfigError, match=r"'simulate.image_size' = 64 but 'data.image_size' = 48"):
        config_from_dict({"data": {"image_size": 48}, "model": {"reduction": "pool"}})
    # real data: simulate.* is not read
    pool = {"model": {"reduction": "pool"}}
    assert config_from_dict({"data": {"source": "folder", "image_size": 32}, **pool}).data.image_size == 32
    with pytest.raises(ConfigError, match=r"params: 'data.image_size' = 40: .*multiple of 16"):
        config_from_dict({"data": {"source": "folder", "image_size": 40}, **pool})
    with pytest.raises(ConfigError, match=r"'data.image_size' = 128 with 'model.reduction' = conv"):
        config_from_dict({"data": {"source": "folder", "image_size": 128}})
    with pytest.raises(ConfigError, match=r"'model.twin_head' = 1.0 but 'loss.instance' = 0"):
        config_from_dict({"model": {"twin_head": 1.0}})
    assert config_from_dict({"model": {"twin_head": 1.0}, "loss": {"instance": 0.3}}).model.scored_dim == 256


def test_execution_settings_are_environment_variables_checked_by_name():
    """How a run executes is no param (DVC would retrain every stage reading it): THZ_* variables."""
    assert Execution.from_env({}) == Execution(resume=False, threads=0, nproc=1)
    assert Execution.from_env({"THZ_RESUME": "", "THZ_THREADS": "0"}) == Execution()
    given = {"THZ_RESUME": "1", "THZ_THREADS": "2", "THZ_NPROC": "4"}
    assert Execution.from_env(given) == Execution(resume=True, threads=2, nproc=4)
    for name, value, expected in (
        ("THZ_RESUME", "true", "from 0 to 1 [(]1 to resume from last.pt"),
        ("THZ_THREADS", "-1", "from 0 to 256 [(]CPU threads per process"),
        ("THZ_NPROC", "0", "from 1 to 1024 [(]the number of training processes"),
    ):
        with pytest.raises(
            ConfigError, match=rf"^environment variable {name}='{value}': expected a whole number {expected}"
        ):
            Execution.from_env({name: value})


def test_each_model_has_its_own_budget_and_a_key_left_out_keeps_that_models_default():
    budget = Config().budget
    assert (budget.baseline.epochs, budget.teacher.epochs, budget.student.epochs) == (24, 10, 24)
    assert all(b.pretrain_epochs == b.heads_epochs == 0 for b in (budget.baseline, budget.teacher, budget.student))
    cfg = config_from_dict({"budget": {"teacher": {"pretrain_epochs": 2}, "student": {"epochs": 3}}})
    assert (cfg.budget.teacher.epochs, cfg.budget.teacher.pretrain_epochs) == (10, 2)  # not Budget's 24
    assert (cfg.budget.student.epochs, cfg.budget.baseline.epochs) == (3, 24)
    with pytest.raises(ConfigError, match=r"unknown key 'budget.student.epoch'; did you mean 'budget.student.epochs'"):
        config_from_dict({"budget": {"student": {"epoch": 3}}})
    with pytest.raises(ConfigError, match=r"unknown key 'budget.techer'; did you mean 'budget.teacher'"):
        config_from_dict({"budget": {"techer": {"epochs": 3}}})
    with pytest.raises(ConfigError, match=r"'budget.baseline.epochs' = 0 is out of range \[1, 100000\]"):
        config_from_dict({"budget": {"baseline": {"epochs": 0}}})


def test_a_params_yaml_still_holding_an_old_budget_key_is_told_where_it_went():
    """`dvc exp run -S train.epochs=14` from before the budget section: the stage names the new keys."""
    with pytest.raises(
        ConfigError, match=r"^p.yaml: 'train.epochs' is now 'budget.baseline.epochs' and 'budget.student.epochs' "
    ):
        config_from_dict({"train": {"epochs": 14}}, source="p.yaml")
    with pytest.raises(ConfigError, match=r"^p.yaml: 'train.mask_patch' is now 'budget.baseline.mask_patch' and"):
        config_from_dict({"train": {"mask_patch": 4}}, source="p.yaml")
    with pytest.raises(ConfigError, match=r"^p.yaml: 'teacher.epochs' is now 'budget.teacher.epochs' "):
        config_from_dict({"teacher": {"epochs": 6}}, source="p.yaml")
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'train.epocs'; did you mean 'budget.baseline.epochs' or 'budget.student.epochs'",
    ):
        config_from_dict({"train": {"epocs": 14}})


def test_a_stored_config_from_before_the_budget_section_reads_its_keys_in_their_new_places():
    stored = {"train": {"epochs": 14, "lr": 0.01, "threads": 2}, "teacher": {"epochs": 6, "heads": 4}}
    assert without_moved(stored) == {
        "train": {"lr": 0.01},
        "teacher": {"heads": 4},
        "budget": {"baseline": {"epochs": 14}, "student": {"epochs": 14}, "teacher": {"epochs": 6}},
    }
    cfg = config_from_dict(without_moved(stored))
    assert (cfg.budget.baseline.epochs, cfg.budget.teacher.epochs, cfg.budget.student.epochs) == (14, 6, 14)
    assert stored["train"]["epochs"] == 14  # the stored dict itself is left as it was


def test_a_params_yaml_still_holding_an_execution_key_is_told_where_it_went():
    for key, variable in (("resume", "THZ_RESUME=1"), ("threads", "THZ_THREADS=N"), ("nproc", "THZ_NPROC=N")):
        with pytest.raises(
            ConfigError, match=rf"^p.yaml: 'train.{key}' is no longer a param .*: delete it and set {variable} in the"
        ):
            config_from_dict({"train": {key: 1}}, source="p.yaml")


def test_every_registry_offers_exactly_the_choices_the_config_accepts():
    """Each Literal in thz/config.py is the one list of a key's values; the code that maps them to
    classes, profiles or directions must cover them all and nothing else."""
    from thz.data.augment import PROFILES
    from thz.models.encoder import ENCODERS
    from thz.models.multitask import ROUTINGS
    from thz.train.loop import HIGHER_IS_BETTER

    assert set(ENCODERS) == set(choices(ModelConfig, "encoder"))
    assert set(PROFILES) == set(choices(AugmentConfig, "profile"))
    assert set(HIGHER_IS_BETTER) == set(choices(TrainConfig, "select_metric"))
    assert ROUTINGS == ("oracle", "predicted", "soft")
