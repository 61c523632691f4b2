"""Score one trained model's predictions (thz.eval.predictions) with pure functions: `score` turns
them into one nested metrics dict, with the same keys for every model so that `dvc metrics diff` lines them
up, plus a per-sample table from which every per-identity and per-posture table is grouped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from thz.data.naming import POSTURES, parse_name
from thz.eval.predictions import ROUTINGS, Predictions
from thz.losses.reconstruction import sharpness_ratio, ssim_per_sample
from thz.metrics.accepts import accept_counts, ladder
from thz.metrics.decisions import accuracy_at_threshold, eer_threshold, triplet_ranking_accuracy
from thz.metrics.enrollment import enrolled_rows, enrollment_metrics, template_scores
from thz.metrics.grouping import group_means
from thz.metrics.posture import posture_metrics
from thz.metrics.separability import per_identity_separability, separability
from thz.metrics.verification import compute_eer, cosine_pair_scores, tar_at_far, verification_metrics

RECON_METRICS = ("ssim", "psnr", "mae", "sharpness", "sharpness_gap", "lpips")


def val_threshold(pred: Predictions) -> float:
    """The decision threshold, at the equal error rate of the validation identities."""
    scores, genuine = pred.pair_scores
    return eer_threshold(scores.ravel(), genuine.ravel())


def _negatives(pred: Predictions, seed: int) -> np.ndarray:
    """For each probe, a concealed probe of another identity in the same posture (the published
    triplet negative), drawn with a fixed seed; -1 where none exists."""
    rng = np.random.default_rng(seed)
    out = np.full(len(pred.identity), -1)
    for i in range(len(out)):
        pool = np.flatnonzero((pred.identity != pred.identity[i]) & (pred.posture == pred.posture[i]))
        if len(pool):
            out[i] = rng.choice(pool)
    return out


def triplet_scores(
    pred: Predictions, seed: int = 0, negatives: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The published triplet protocol as pair scores, one pair of each per probe that has a negative:
    (twin, negative) cosine scores of the concealed anchor against its own unconcealed capture and
    against its negative; NaN where a probe has no negative. `negatives`: _negatives(pred, seed),
    when the caller already drew them."""
    negatives = _negatives(pred, seed) if negatives is None else negatives
    has = negatives >= 0
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)  # noqa: E731
    probe, gallery = unit(pred.probe), unit(pred.gallery)
    twin = (probe * gallery).sum(axis=1)
    negative = np.full(len(has), np.nan)
    negative[has] = (probe[has] * probe[negatives[has]]).sum(axis=1)
    return twin, negative


def verification(pred: Predictions, threshold: float, seed: int = 0) -> dict:
    """Both protocols: identity level (every concealed probe against every unconcealed gallery image;
    genuine = same identity; what a deployment meets) and the published triplets (an anchor's own
    twin against a concealed image of another identity in the same posture)."""
    scores, genuine = pred.pair_scores
    probe_gallery = verification_metrics(scores.ravel(), genuine.ravel())
    probe_gallery["at_val_threshold"] = accuracy_at_threshold(scores.ravel(), genuine.ravel(), threshold)
    among = cosine_pair_scores(pred.probe, pred.probe)
    upper = np.triu_indices(len(pred.identity), k=1)
    same = pred.identity[:, None] == pred.identity[None, :]
    negatives = _negatives(pred, seed)
    has = negatives >= 0
    triplets = (pred.probe[has], pred.gallery[has], pred.probe[negatives[has]])
    twin, negative = triplet_scores(pred, seed, negatives)
    pairs = np.concatenate([twin[has], negative[has]])
    return {
        "probe_gallery": probe_gallery,  # concealed probe against unconcealed gallery
        "concealed_concealed": verification_metrics(among[upper], same[upper]),
        "rank1": float((pred.identity[scores.argmax(axis=1)] == pred.identity).mean()),
        "rank1_twin_excluded": rank1_twin_excluded(pred),  # the probe's own capture not in the gallery
        "enrollment": enrollment(pred, seed)[0],
        "triplet_ranking_accuracy": triplet_ranking_accuracy(*triplets),  # the published score
        # margin 0.2, written 0p2: DVC reads a dot in a key as nesting
        "triplet_ranking_accuracy_margin_0p2": triplet_ranking_accuracy(*triplets, margin=0.2),
        "triplet": verification_metrics(pairs, np.arange(len(pairs)) < has.sum()),  # its AUC and EER
    }


def rank1_twin_excluded(pred: Predictions) -> float:
    """Rank-1 of each concealed probe against the unconcealed gallery without its own twin (the
    same capture, uncovered), which flatters the plain rank-1."""
    scores, _ = pred.pair_scores
    others = scores.copy()
    np.fill_diagonal(others, -np.inf)  # gallery row i is probe i's twin
    return float((pred.identity[others.argmax(axis=1)] == pred.identity).mean())


def enrollment(pred: Predictions, seed: int = 0) -> tuple[dict, dict[str, dict[str, float]]]:
    """The enrollment protocol (thz.metrics.enrollment) on the test captures."""
    return enrollment_metrics(pred.probe, pred.gallery, pred.identity, _samples(pred), seed)


def _samples(pred: Predictions) -> np.ndarray:
    """Each test image's capture (its sample number), from its file name."""
    return np.array([parse_name(p).sample for p in pred.paths])


def accepts_table(pred: Predictions, seed: int = 0) -> pd.DataFrame:
    """Per protocol (probe_gallery: each probe against every gallery image; enrollment: each probe
    against every template) and identity, its probes' genuine and impostor comparisons accepted on
    the protocol's ladder of thresholds (thz.metrics.accepts): what compare's bootstrap of TAR at
    FAR over identities reads. No enrollment rows when fewer than two identities enroll."""
    scores, genuine = pred.pair_scores
    protocols = {"probe_gallery": (scores, genuine, pred.identity)}
    role = enrolled_rows(pred.identity, _samples(pred), seed)  # the roles enrollment() draws
    searched = template_scores(pred.probe, pred.gallery, pred.identity, role)
    if searched is not None:
        names, who, template = searched
        protocols["enrollment"] = (template, names[None, :] == who[:, None], who)
    tables = [
        accept_counts(s, g, owner, ladder(s[~g])).assign(protocol=name) for name, (s, g, owner) in protocols.items()
    ]
    table = pd.concat(tables, ignore_index=True)
    return table[["protocol", *table.columns.drop("protocol")]]


def roc_table(pred: Predictions) -> pd.DataFrame:
    """The probe-gallery ROC curve (fpr, tpr, threshold) for DVC plots."""
    scores, genuine = pred.pair_scores
    fpr, tpr, thresholds = roc_curve(genuine.ravel(), scores.ravel())
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thresholds, 1.0)})


@torch.no_grad()
def per_sample_table(pred: Predictions, perceptual=None, seed: int = 0) -> pd.DataFrame:
    """One row per concealed test image: identity, posture, predicted posture, reconstruction
    metrics under each routing (LPIPS only with a perceptual model), and its own verification
    AUC (its scores against every gallery image: genuine ones should rank first)."""
    scores, genuine = pred.pair_scores
    predicted = pred.logits.argmax(axis=1)
    table = pd.DataFrame(
        {
            "path": pred.paths,
            "identity": pred.identity,
            "posture": [POSTURES[p] for p in pred.posture],
            "posture_predicted": [POSTURES[p] for p in predicted],
            "posture_correct": predicted == pred.posture,
            "verification_auc": [roc_auc_score(g, s) for s, g in zip(scores, genuine, strict=True)],
        }
    )
    twin, negative = triplet_scores(pred, seed)  # the negatives of verification()
    table["triplet_correct"] = np.where(np.isnan(negative), np.nan, twin > negative)  # the published accuracy
    for routing, recon in pred.recon.items():
        error = recon - pred.targets
        mse = error.square().flatten(1).mean(1).clamp_min(1e-10)
        table[f"ssim_{routing}"] = ssim_per_sample(recon, pred.targets).numpy()
        table[f"psnr_{routing}"] = (10 * torch.log10(1.0 / mse)).numpy()
        table[f"mae_{routing}"] = error.abs().flatten(1).mean(1).numpy()
        sharpness = sharpness_ratio(recon, pred.targets)
        table[f"sharpness_{routing}"] = sharpness.numpy()  # 1: as sharp as the true face
        table[f"sharpness_gap_{routing}"] = (sharpness - 1).abs().numpy()  # blur and artefacts both count
        if perceptual is not None:
            table[f"lpips_{routing}"] = perceptual(recon, pred.targets).numpy()
    return table


def sample_columns(table: pd.DataFrame) -> list[str]:
    """The per-sample columns worth averaging per identity or posture."""
    return ["posture_correct", "verification_auc", "triplet_correct"] + [
        f"{m}_{r}" for r in ROUTINGS for m in RECON_METRICS if f"{m}_{r}" in table
    ]


def per_identity_table(pred: Predictions, table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per identity: means of the per-sample columns, the identity's own verification EER and TAR at
    FAR 1 % (its probes against every gallery image), its enrollment-protocol AUC and rank-1 (NaN
    where it could not be enrolled) and its separability (silhouette, compactness, separation,
    Davies-Bouldin term; thz.metrics.separability)."""
    out = group_means(table, "identity", sample_columns(table))
    enrolled = enrollment(pred, seed)[1]
    for column in ("enrollment_auc", "enrollment_rank1"):
        out[column] = [enrolled.get(name, {}).get(column, np.nan) for name in out.identity]
    scores, genuine = pred.pair_scores
    rows = [(scores[pred.identity == name].ravel(), genuine[pred.identity == name].ravel()) for name in out.identity]
    out["verification_eer"] = [compute_eer(s, g) for s, g in rows]
    out["verification_tar_at_far_1pct"] = [tar_at_far(s, g, 0.01) for s, g in rows]
    embeddings = np.concatenate([pred.probe, pred.gallery])
    spread = per_identity_separability(embeddings, np.concatenate([pred.identity, pred.identity]))
    return out.merge(spread, on="identity", how="left", validate="one_to_one")


def score(
    pred: Predictions, threshold: float, perceptual=None, lpips_reason: str = "", seed: int = 0
) -> tuple[dict, pd.DataFrame]:
    """The metrics dict of one model and its per-sample table."""
    table = per_sample_table(pred, perceptual, seed)
    reconstruction = {}
    for routing in ROUTINGS:
        values = {m: float(table[f"{m}_{routing}"].mean()) for m in RECON_METRICS if f"{m}_{routing}" in table}
        reconstruction[routing] = values
    if perceptual is None:
        reconstruction["lpips_missing"] = lpips_reason or "no perceptual model given"
    posture = posture_metrics(pred.posture, pred.logits.argmax(axis=1))
    posture.pop("confusion")  # written as its own plot file
    embeddings = np.concatenate([pred.probe, pred.gallery])
    labels = np.concatenate([pred.identity, pred.identity])
    metrics = {
        "verification": verification(pred, threshold, seed),
        "posture": posture,
        "reconstruction": reconstruction,
        "separability": separability(embeddings, labels),
        "test": {"identities": int(len(np.unique(pred.identity))), "images": int(len(pred.identity))},
    }
    return metrics, table
