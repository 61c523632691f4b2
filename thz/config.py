"""Typed, frozen configuration read from params.yaml: the one place where defaults live.

Each params.yaml section maps onto one dataclass. Section boundaries follow DVC invalidation:
a stage lists the sections it reads, so editing a key re-runs exactly the stages that use it.
The loader is strict: an unknown key fails naming its dotted path and the closest valid key
(the `dvc exp run -S trian.lr=0.01` typo), a wrong type or an out-of-range value fails naming
the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class ConfigError(ValueError):
    """A params.yaml key is unknown, mistyped or out of range; the message names the key."""


def _range(lo: float | None = None, hi: float | None = None, **extra: Any) -> dict[str, Any]:
    return {"range": (lo, hi), **extra}


@dataclass(frozen=True)
class SimulateConfig:
    """Knobs of the built-in THz face simulator (thz.data.simulate)."""

    identities: int = field(default=20, metadata=_range(2, 500))
    samples: int = field(default=7, metadata=_range(1, 200))  # per identity and posture
    image_size: int = field(default=64, metadata=_range(16, 512))
    visible_size: int = field(default=128, metadata=_range(16, 1024))
    identity_variation: float = field(default=1.0, metadata=_range(0.0, 3.0))
    pose_jitter_deg: float = field(default=6.0, metadata=_range(0.0, 20.0))
    expression: float = field(default=1.0, metadata=_range(0.0, 3.0))
    blur: float = field(default=0.8, metadata=_range(0.0, 4.0))  # PSF sigma in output pixels
    speckle: float = field(default=0.15, metadata=_range(0.0, 1.0))  # std of multiplicative speckle
    noise: float = field(default=0.03, metadata=_range(0.0, 0.5))  # additive Gaussian sigma
    stripes: float = field(default=0.04, metadata=_range(0.0, 0.5))  # raster row gain spread
    dropout: float = field(default=0.02, metadata=_range(0.0, 0.5))  # fraction of dead pixels
    concealment: float = field(default=0.6, metadata=_range(0.0, 1.0))  # 0 transparent, 1 opaque
    fabric_texture: float = field(default=0.3, metadata=_range(0.0, 1.0))


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how strictly they are checked."""

    source: Literal["simulated", "folder", "triplets"] = "simulated"
    dir: str = "data/simulated/thz"
    visible_dir: str = "data/simulated/visible"
    strict: bool = True
    image_size: int = field(default=64, metadata=_range(16, 512))
    min_pairs_per_identity: int = field(default=2, metadata=_range(1, None))


MIN_IDENTITIES_PER_PART = 2  # train, val and test each: a negative needs another identity


@dataclass(frozen=True)
class SplitConfig:
    """Identity-disjoint train/val/test split, optionally K folds of test identities."""

    # at least 2 each: a verification negative in a part needs another identity of that part
    n_val_identities: int = field(default=3, metadata=_range(MIN_IDENTITIES_PER_PART, None))
    n_test_identities: int = field(default=3, metadata=_range(MIN_IDENTITIES_PER_PART, None))
    val_identities: tuple[str, ...] = ()
    test_identities: tuple[str, ...] = ()
    folds: int = field(default=5, metadata=_range(1, 50))
    # the folds the pipeline trains and evaluates (DVC's foreach needs a list): all of 0..folds-1
    # for a full cross-validation, or a subset to spread the folds over machines or sessions
    run_folds: tuple[int, ...] = (0, 1, 2, 3, 4)

    def __post_init__(self):
        for key in ("val_identities", "test_identities"):
            named = getattr(self, key)
            if 0 < len(named) < MIN_IDENTITIES_PER_PART:
                raise ConfigError(
                    f"'split.{key}' = {list(named)}: expected at least {MIN_IDENTITIES_PER_PART} identities "
                    "(a verification negative needs another identity of the same part), or none"
                )
        wrong = [k for k in self.run_folds if not 0 <= k < self.folds]
        if not self.run_folds or wrong or len(set(self.run_folds)) != len(self.run_folds):
            every = ",".join(str(k) for k in range(self.folds))
            raise ConfigError(
                f"'split.run_folds' = {list(self.run_folds)}: expected distinct fold numbers in 0..{self.folds - 1} "
                f"(split.folds = {self.folds}); all folds: -S 'split.run_folds=[{every}]'"
            )


@dataclass(frozen=True)
class ModelConfig:
    """The multi-task network: shared encoder, embedding and posture heads, MoE U-Net decoder."""

    encoder: Literal["unet", "resnet18"] = "unet"
    width: int = field(default=32, metadata=_range(8, 128))  # stem channels; stages are 1, 2, 4, 8 x width
    reduction: Literal["conv", "pool"] = "conv"  # published 4x4 stride-4 conv, or global average pooling
    embedding_dim: int = field(default=128, metadata=_range(8, 1024))
    embedding_hidden: int = field(default=256, metadata=_range(8, 4096))
    dropout: float = field(default=0.1, metadata=_range(0.0, 0.95))  # on the latent, before both heads
    moe_routing: Literal["oracle", "predicted", "soft"] = "predicted"
    # a second embedding head trained by the twin term (loss.instance); its cosine enters the
    # verification score at this weight beside the identity head's; 0: one head for both terms
    twin_head: float = field(default=0.0, metadata=_range(0.0, None))

    @property
    def scored_dim(self) -> int:
        """Length of the embedding that verification scores (and the exported graph returns)."""
        return self.embedding_dim * (2 if self.twin_head > 0 else 1)


@dataclass(frozen=True)
class LossConfig:
    """Task losses and their weights (read by every variant, so not distillation settings)."""

    supcon: float = field(default=1.0, metadata=_range(0.0, None))
    posture: float = field(default=1.0, metadata=_range(0.0, None))
    recon: float = field(default=1.0, metadata=_range(0.0, None))
    # the identity-level term, weight `supcon`: SupCon, batch-hard triplet, or a margin softmax over
    # the training identities (thz.losses.margin), optionally with SupCon beside it (margin_supcon)
    metric: Literal["supcon", "triplet", "cosface", "arcface", "subcenter_arcface"] = "supcon"
    cosface_scale: float = field(default=30.0, metadata=_range(1.0, 256.0))
    cosface_margin: float = field(default=0.35, metadata=_range(0.0, 1.0))
    arcface_scale: float = field(default=30.0, metadata=_range(1.0, 256.0))  # arcface and subcenter_arcface
    arcface_margin: float = field(default=0.5, metadata=_range(0.0, 1.5))  # radians
    subcenters: int = field(default=3, metadata=_range(1, 16))  # centres per identity, subcenter_arcface
    margin_supcon: float = field(default=0.0, metadata=_range(0.0, None))  # SupCon beside a margin softmax
    instance: float = field(default=0.0, metadata=_range(0.0, None))  # twin term (published objective); 0: off
    instance_negatives: Literal["all", "other_identities"] = "all"  # all: published; or other people only
    temperature: float = field(default=0.07, metadata=_range(1e-3, 10.0))
    triplet_margin: float = field(default=0.2, metadata=_range(0.0, 2.0))
    label_smoothing: float = field(default=0.1, metadata=_range(0.0, 0.9))
    charbonnier: float = field(default=1.0, metadata=_range(0.0, None))
    ssim: float = field(default=0.8, metadata=_range(0.0, None))
    gradient: float = field(default=0.2, metadata=_range(0.0, None))
    # off (and recorded so) until torchvision's VGG16 weights are in data/weights (thz.losses.perceptual)
    lpips: float = field(default=0.5, metadata=_range(0.0, None))
    adversarial: float = field(default=0.0, metadata=_range(0.0, None))  # patch discriminator; 0: off, not built
    adversarial_loss: Literal["hinge", "lsgan"] = "hinge"
    adversarial_conditional: bool = True  # the discriminator also sees the concealed input


@dataclass(frozen=True)
class AugmentConfig:
    profile: Literal["none", "gentle", "medium", "strong"] = "gentle"
    speckle: bool = False  # multiplicative speckle instead of the published additive noise


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping of every training run (baseline, teacher and student); how long
    each model trains is its `budget`."""

    identities_per_batch: int = field(default=8, metadata=_range(2, 1024))  # P
    images_per_identity: int = field(default=4, metadata=_range(2, 1024))  # K
    lr: float = field(default=1e-3, metadata=_range(1e-7, 1.0))
    weight_decay: float = field(default=1e-4, metadata=_range(0.0, 1.0))
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: float = field(default=2.0, metadata=_range(0.0, None))
    min_lr_ratio: float = field(default=0.01, metadata=_range(0.0, 1.0))
    grad_clip: float = field(default=1.0, metadata=_range(0.0, None))  # 0 switches clipping off
    val_every: float = field(default=2.0, metadata=_range(0.01, None))  # in epochs
    select_metric: Literal["ssim", "posture_acc", "auc", "loss"] = "ssim"
    sampler: Literal["identity", "random"] = "identity"  # P x K identity batches | shuffled pairs (published)
    channels_last: bool = True  # NHWC layout: faster oneDNN convolutions on CPU, same numbers
    # where and how: "auto" takes the GPU when there is one; precision "auto" is bf16 autocast on a
    # CPU that computes bf16 natively (thz.runtime.native_bf16), fp32 on any other CPU, and mixed
    # precision on CUDA (bf16 where supported, else fp16 with a gradient scaler)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"


@dataclass(frozen=True)
class Budget:
    """How long one model trains, and through which phases (thz.train.curriculum): (1) masked-
    reconstruction pre-training of encoder and decoder, (2) heads with the encoder frozen, then
    `epochs` of joint training. 0 skips a phase (the published behaviour: one joint phase)."""

    epochs: int = field(default=24, metadata=_range(1, 100000))
    pretrain_epochs: int = field(default=0, metadata=_range(0, 100000))
    heads_epochs: int = field(default=0, metadata=_range(0, 100000))
    mask_ratio: float = field(default=0.5, metadata=_range(0.0, 0.95))  # share of patches hidden in (1)
    mask_patch: int = field(default=8, metadata=_range(1, 64))  # side of a hidden square, px


@dataclass(frozen=True)
class BudgetConfig:
    """Each model's budget, read by its own training stage only: train_<model> reads budget.<model>.
    A key left out takes that model's default (the teacher's epochs are 10, the others' 24)."""

    baseline: Budget = Budget()
    teacher: Budget = Budget(epochs=10)
    student: Budget = Budget()


@dataclass(frozen=True)
class TeacherConfig:
    """The privileged teacher of stage train_teacher: the `model` network plus a visible encoder of
    the same design and dual cross-attention fusion of the two bottlenecks. Trained with the `loss`,
    `augment` and `train` settings for its own budget (budget.teacher)."""

    heads: int = field(default=8, metadata=_range(1, 64))  # attention heads; must divide 8 x model.width
    dropout: float = field(default=0.1, metadata=_range(0.0, 0.9))  # attention dropout
    positional: bool = True  # learned position embeddings of the bottleneck tokens (published: none)
    visible_colour: bool = True  # RGB visible images through a 3-channel stem (false: grayscale, published)
    # visible images at this multiple of data.image_size (1, 2, 4, 8; published 1), through a stride-2 stem
    visible_scale: int = field(default=2, metadata=_range(1, 8))
    # training only: the share of samples that skip the fusion (THz alone); 0: the published teacher
    modality_dropout: float = field(default=0.0, metadata=_range(0.0, 0.9))
    # which photo the concealed THz input is fused with: capture (its own, balaclava and all;
    # published) | unconcealed (the uncovered face of the same capture: a privileged teacher)
    visible_source: Literal["capture", "unconcealed"] = "unconcealed"


# The published teacher's reading of its photo (grayscale, the THz size, each THz image with its own
# capture's photo): TeacherConfig(**PUBLISHED_VISIBLE), or -S teacher.visible_colour=false etc.
PUBLISHED_VISIBLE = {"visible_colour": False, "visible_scale": 1, "visible_source": "capture"}


@dataclass(frozen=True)
class DistillConfig:
    """How the THz-only student of stage train_student learns from the trained teacher. A weight of
    0 switches its term off and skips its computation."""

    freeze_teacher: bool = True  # false: the loaded teacher keeps training alongside the student
    teacher_task_weight: float = field(default=0.5, metadata=_range(0.0, None))  # joint training only
    full_triplet: bool = False  # true: distil on every image of the batch; false: the concealed inputs only
    feature: float = field(default=1.0, metadata=_range(0.0, None))  # projected student latent vs teacher's
    feature_loss: Literal["mse", "cosine"] = "mse"
    logit: float = field(default=0.5, metadata=_range(0.0, None))  # KL on posture logits, times T^2
    temperature: float = field(default=3.0, metadata=_range(0.05, 100.0))
    rkd_distance: float = field(default=1.0, metadata=_range(0.0, None))  # Park et al. 2019
    rkd_angle: float = field(default=2.0, metadata=_range(0.0, None))
    identity_centre: float = field(default=0.5, metadata=_range(0.0, None))  # pull to the teacher's identity centre
    # identity-level terms (thz.losses.distill): InfoNCE against the teacher's embeddings of other
    # people, through a projection head; and the batch's cosine-similarity rows matched by KL
    contrastive: float = field(default=0.0, metadata=_range(0.0, None))
    contrastive_temperature: float = field(default=0.1, metadata=_range(0.01, 10.0))
    similarity: float = field(default=0.0, metadata=_range(0.0, None))
    similarity_temperature: float = field(default=0.1, metadata=_range(0.01, 10.0))
    # KL on the identity posteriors over the training identities, at `temperature`, times T^2; needs
    # a margin-softmax loss.metric for student and teacher (their identity centres give the logits)
    identity_logit: float = field(default=0.0, metadata=_range(0.0, None))


@dataclass(frozen=True)
class EvalConfig:
    """How the evaluate stage runs a trained network on the test identities (read by no other stage:
    validation during training never flips)."""

    # test-time flip: each image also through its horizontal mirror, embeddings, posture logits
    # (left and right swapped) and reconstructions averaged (thz.eval.forward)
    flip: bool = False


@dataclass(frozen=True)
class Config:
    seed: int = field(default=0, metadata=_range(0, 2**32 - 1))
    simulate: SimulateConfig = SimulateConfig()
    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    augment: AugmentConfig = AugmentConfig()
    train: TrainConfig = TrainConfig()
    budget: BudgetConfig = BudgetConfig()
    teacher: TeacherConfig = TeacherConfig()
    distill: DistillConfig = DistillConfig()
    eval: EvalConfig = EvalConfig()


def choices(section: type, key: str) -> tuple[str, ...]:
    """The values a Literal-typed key accepts, so that code listing them (a registry, a check)
    reads them from here instead of repeating them."""
    return typing.get_args(typing.get_type_hints(section)[key])


# Settings of how a run executes, not what it computes, were params and retrained every stage that
# reads `train` when set; they are environment variables now (thz.runtime.Execution). A params.yaml
# still holding one is told where it went; a checkpoint's stored config drops them (without_moved).
MOVED_TO_ENV = {"train.resume": "THZ_RESUME=1", "train.threads": "THZ_THREADS=N", "train.nproc": "THZ_NPROC=N"}


# Each model's epochs and curriculum were train.* keys (read by the baseline and the student) and
# teacher.epochs; they are each model's budget now. A params.yaml still holding one is told where it
# went; a checkpoint's stored config gets them in their new places (without_moved).
MOVED_TO_BUDGET = {
    **{f"train.{f.name}": ("baseline", "student") for f in dataclasses.fields(Budget)},
    "teacher.epochs": ("teacher",),
}


def without_moved(raw: dict[str, Any]) -> dict[str, Any]:
    """A stored config (a checkpoint's) in today's keys: without the keys that became environment
    variables, and with those that became budget keys in their new places."""
    moved = {tuple(key.split(".")) for key in (*MOVED_TO_ENV, *MOVED_TO_BUDGET)}
    out = {
        section: {k: v for k, v in values.items() if (section, k) not in moved} if isinstance(values, dict) else values
        for section, values in raw.items()
    }
    for old, models in MOVED_TO_BUDGET.items():
        section, key = old.split(".")
        if isinstance(raw.get(section), dict) and key in raw[section]:
            budget = out["budget"] = {model: dict(values) for model, values in out.get("budget", {}).items()}
            for model in models:
                budget.setdefault(model, {})[key] = raw[section][key]
    return out


def check_across_sections(cfg: Config) -> None:
    """Settings of different sections that must agree, checked when params are read, before any
    stage has run (a bad `-S data.image_size=48` would otherwise fail after simulate and scan)."""
    size = cfg.data.image_size
    if cfg.data.source == "simulated" and cfg.simulate.image_size != size:
        raise ConfigError(
            f"'simulate.image_size' = {cfg.simulate.image_size} but 'data.image_size' = {size}: "
            "the simulated images are what the network reads; set both to the same size"
        )
    if size % 16:
        raise ConfigError(f"'data.image_size' = {size}: the network halves it four times, use a multiple of 16")
    if cfg.model.reduction == "conv" and size != 64:
        raise ConfigError(
            f"'data.image_size' = {size} with 'model.reduction' = conv: the 4x4 conv reduction "
            "needs 64 px images; use model.reduction: pool for other sizes"
        )
    if cfg.model.twin_head > 0 and cfg.loss.instance == 0:
        raise ConfigError(
            f"'model.twin_head' = {cfg.model.twin_head} but 'loss.instance' = 0: the twin head is trained by the "
            "twin term only; give loss.instance a weight or set model.twin_head to 0"
        )


def load_config(path: str | Path = "params.yaml") -> Config:
    """Read params.yaml into a frozen Config; missing keys take the defaults above."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (expected the project's params.yaml)") from None
    return config_from_dict(read_yaml(text, str(path)), source=str(path))


def read_yaml(text: str, source: str) -> Any:
    """Parse YAML as DVC does (YAML 1.2 numbers: `lr: 1e-4` is a number, not the string PyYAML's
    YAML 1.1 makes of it), refusing duplicate keys, which DVC refuses and PyYAML would resolve by
    silently keeping the last (a second `data:` section would replace the first)."""
    import yaml  # here, not at module level: the ONNX prediction path imports this module without PyYAML

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise ConfigError(
                        f"{source}: duplicate key '{key}' at line {line} (first at line {seen[key]}): "
                        "YAML would keep only the last one; merge them into one"
                    )
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+0123456789."))
    try:
        return yaml.load(text, Loader=StrictLoader) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from None


# the float forms YAML 1.2 has and PyYAML's YAML 1.1 lacks: an exponent without a dot or without a
# sign (DVC's ruamel.yaml reads 1e-4 as 0.0001); tried after PyYAML's own int and float forms
_YAML12_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


def config_from_dict(raw: dict[str, Any], source: str = "params") -> Config:
    """Build a Config from a nested dict, validating every key, type and range."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    cfg = _build(Config, raw, prefix="", source=source)
    try:
        check_across_sections(cfg)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return cfg


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict of a config (tuples as lists), for checkpoints and YAML."""
    return _plain(dataclasses.asdict(cfg))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, raw: dict[str, Any], prefix: str, source: str, base: Any = None) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if f"{prefix}{key}" in MOVED_TO_ENV:
            raise ConfigError(
                f"{source}: '{prefix}{key}' is no longer a param (it changed how a run executes, not what it "
                f"computes, yet retrained every stage reading it): delete it and set {MOVED_TO_ENV[prefix + key]} "
                "in the stage's environment instead"
            )
        if f"{prefix}{key}" in MOVED_TO_BUDGET:
            now = " and ".join(f"'budget.{model}.{key}'" for model in MOVED_TO_BUDGET[prefix + key])
            raise ConfigError(
                f"{source}: '{prefix}{key}' is now {now} (each model's epochs and curriculum are its budget, "
                "read by its own training stage only): move it there"
            )
        if key not in fields:
            # a typo of a key that moved (train.epocs) is pointed to its new places
            moved = {
                k.removeprefix(prefix): v for k, v in MOVED_TO_BUDGET.items() if k.rpartition(".")[0] + "." == prefix
            }
            close = difflib.get_close_matches(str(key), [*fields, *moved], n=1, cutoff=0.5)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            if close and close[0] in moved:
                hint = "; did you mean " + " or ".join(f"'budget.{m}.{close[0]}'" for m in moved[close[0]]) + "?"
            valid = ", ".join(fields)
            raise ConfigError(f"{source}: unknown key '{prefix}{key}'{hint} (valid keys: {valid})")
    values = {}
    for name, f in fields.items():
        if name not in raw:
            continue
        dotted = f"{prefix}{name}"
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(raw[name], dict):
                raise ConfigError(f"{source}: '{dotted}' must be a section (mapping), got {raw[name]!r}")
            # keys left out keep this field's default (budget.teacher's epochs are not Budget's)
            values[name] = _build(hint, raw[name], prefix=f"{dotted}.", source=source, base=f.default)
        else:
            values[name] = _coerce(raw[name], hint, dotted, source)
            _check_range(values[name], f.metadata.get("range"), dotted, source)
    try:
        return dataclasses.replace(base, **values) if isinstance(base, cls) else cls(**values)
    except ConfigError as err:  # a check across keys of one section
        raise ConfigError(f"{source}: {err}") from None


def _coerce(value: Any, hint: Any, dotted: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{source}: '{dotted}' must be one of {list(choices)}, got {value!r}")
        return value
    if origin is tuple:
        (item_type, _ellipsis) = typing.get_args(hint)
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{source}: '{dotted}' must be a list, got {value!r}")
        return tuple(_coerce(v, item_type, f"{dotted}[{i}]", source) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported config type for {dotted}: {hint}")
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{dotted}' must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: '{dotted}' must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{source}: '{dotted}' must be a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            # YAML reads 07 as 7: refuse rather than silently change an identity name
            raise ConfigError(f"{source}: '{dotted}' must be a string; quote it in params.yaml ('{value}')")
        if not isinstance(value, str):
            raise ConfigError(f"{source}: '{dotted}' must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type for {dotted}: {hint}")


def _check_range(value: Any, bounds: tuple[float | None, float | None] | None, dotted: str, source: str):
    if bounds is None:
        return
    lo, hi = bounds
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        lo_s = "-inf" if lo is None else lo
        hi_s = "inf" if hi is None else hi
        raise ConfigError(f"{source}: '{dotted}' = {value!r} is out of range [{lo_s}, {hi_s}]")
