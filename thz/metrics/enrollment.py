"""The enrollment protocol a deployment meets: each person is enrolled once, from several images
taken at other times, and then met in new captures.

Per test identity, its captures (sample numbers) are split in two halves by a seeded draw: the
unconcealed images of one half make its template (their normalised mean embedding); the concealed
images of the other half are its probes, so a probe's own capture is never in its template.
Reported as biometrics reports it: 1:1 verification against the templates (AUC, EER, TAR at FAR
10 %, 1 %, 0.1 %), closed-set 1:N identification (CMC rank-1, rank-5) and open-set
identification (detection and identification rate at a false positive identification rate of
1 %, each probe searched once with its own template enrolled and once without it). A rate that
the number of comparisons cannot resolve (a FAR below 1 / impostor comparisons, a rank not below
the number of templates) is None ("not measurable"), never a number.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score

from thz.metrics.verification import FARS, compute_eer, cosine_pair_scores, resolves, tar_at_far

RANKS = (1, 5)
FPIR = 0.01
_KEYS = ("auc", "eer", *(f"tar_at_far_{n}" for n in FARS), *(f"rank{k}" for k in RANKS), "dir_at_fpir_1pct")


def enrolled_rows(identity: np.ndarray, sample: np.ndarray, seed: int) -> np.ndarray:
    """(N,) int: 1 where the row's capture enrolls its identity, 0 where it is a probe, -1 where
    the identity has a single capture (it can be neither: a template needs other captures than
    its probes'). Half of each identity's sample numbers (rounded down, at least one) enroll,
    drawn with a generator seeded by `seed` and the identity's rank in sorted order."""
    role = np.full(len(identity), -1)
    for k, name in enumerate(sorted(set(identity))):
        mine = identity == name
        samples = np.array(sorted(set(sample[mine])))
        if len(samples) < 2:
            continue
        drawn = np.random.default_rng([seed, k]).permutation(samples)[: len(samples) // 2]
        role[mine] = np.isin(sample[mine], drawn).astype(int)
    return role


def templates(gallery: np.ndarray, identity: np.ndarray, role: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(names (K,), templates (K, D)): the normalised mean unconcealed embedding of each enrolled
    identity's enrolment captures."""
    names = np.array(sorted(set(identity[role == 1])))
    unit = gallery / np.linalg.norm(gallery, axis=1, keepdims=True).clip(1e-12)
    means = np.stack([unit[(identity == n) & (role == 1)].mean(axis=0) for n in names])
    return names, means / np.linalg.norm(means, axis=1, keepdims=True).clip(1e-12)


def measurable_tar(scores: np.ndarray, genuine: np.ndarray, far: float) -> float | None:
    """TAR at `far`, or None where fewer than 1 / far impostor comparisons cannot resolve it."""
    return tar_at_far(scores, genuine, far) if resolves(int((~genuine).sum()), far) else None


def open_set_dir(scores: np.ndarray, own: np.ndarray, fpir: float = FPIR) -> float | None:
    """Detection and identification rate at `fpir`: each probe searched with its own template
    enrolled (detected and identified when its own template ranks first at a score above the
    threshold) and without it (a false positive when its best score passes the threshold); the
    threshold lets at most `fpir` of the searches without a mate through. None when fewer than
    1 / fpir searches cannot resolve it."""
    n = len(scores)
    if n < math.ceil(1 / fpir):
        return None
    rows = np.arange(n)
    mated = scores[rows, own]
    others = scores.copy()
    others[rows, own] = -np.inf
    non_mated = np.sort(others.max(axis=1))[::-1]
    threshold = non_mated[int(math.floor(fpir * n))]  # accept above it: at most fpir of them pass
    identified = scores.argmax(axis=1) == own
    return float((identified & (mated > threshold)).mean())


def template_scores(
    probe: np.ndarray, gallery: np.ndarray, identity: np.ndarray, role: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(names (K,) of the enrolled identities, who (P,) each probe's identity, scores (P, K) each
    probe's cosine against every template), for the roles of enrolled_rows; None when fewer than
    two identities enroll (one identity, or single captures: nothing to tell apart)."""
    if len(set(identity[role == 1])) < 2:
        return None
    names, bank = templates(gallery, identity, role)
    probes = role == 0
    return names, identity[probes], cosine_pair_scores(probe[probes], bank)


def enrollment_metrics(
    probe: np.ndarray, gallery: np.ndarray, identity: np.ndarray, sample: np.ndarray, seed: int
) -> tuple[dict, dict[str, dict[str, float]]]:
    """(metrics, per identity {name: {enrollment_auc, enrollment_rank1}}) of the protocol above,
    for N captures: concealed embeddings `probe`, unconcealed `gallery`, their identities and
    sample numbers."""
    role = enrolled_rows(identity, sample, seed)
    searched = template_scores(probe, gallery, identity, role)
    if searched is None:
        return {name: None for name in _KEYS} | {"templates": len(set(identity[role == 1]))}, {}
    names, who, scores = searched
    own = np.searchsorted(names, who)
    genuine = names[None, :] == who[:, None]
    flat_scores, flat_genuine = scores.ravel(), genuine.ravel()
    rank = (scores > scores[np.arange(len(own)), own][:, None]).sum(axis=1) + 1  # 1 = own template first
    metrics = {
        "auc": float(roc_auc_score(flat_genuine, flat_scores)),
        "eer": compute_eer(flat_scores, flat_genuine),
        **{f"tar_at_far_{name}": measurable_tar(flat_scores, flat_genuine, far) for name, far in FARS.items()},
        **{f"rank{k}": float((rank <= k).mean()) if k < len(names) else None for k in RANKS},
        "dir_at_fpir_1pct": open_set_dir(scores, own),
        "templates": len(names),
        "probes": len(who),
        "impostor_comparisons": int((~flat_genuine).sum()),
        "identities_not_enrolled": len(set(identity[role == -1])),
    }
    per_identity = {
        name: {
            "enrollment_auc": float(roc_auc_score(genuine[who == name].ravel(), scores[who == name].ravel())),
            "enrollment_rank1": float((rank[who == name] == 1).mean()),
        }
        for name in names
    }
    return metrics, per_identity
