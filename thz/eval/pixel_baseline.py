"""The floor every model must clear: PCA + cosine verification and pixel logistic regression.

It also guards the simulator: if raw pixels already verify people almost perfectly, the data
are too easy to tell us anything about the networks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score

from thz.data.images import read_thz_stack
from thz.losses.reconstruction import ssim_per_sample
from thz.metrics.verification import cosine_pair_scores, verification_metrics


def pixel_baseline(images: pd.DataFrame, seed: int, image_size: int, components: int = 32) -> dict:
    """Fit on the train identities, score on the test identities of one per-image table.

    Images are read as training reads them (thz.data.images.read_thz_uint8): an image changed
    since the scan (its md5) is refused, never scored.

    Verification: concealed probes against unconcealed gallery images, all pairs, PCA
    (whitened, fitted on training images of both kinds) then cosine similarity; also restricted
    to same-posture pairs, the easier case. Posture: logistic regression on the pixels of
    concealed images. Reconstruction: see reconstruction_baselines.
    """
    train, test = images[images.split == "train"], images[images.split == "test"]
    md5 = dict(zip(images.path, images.md5, strict=True))
    recon = reconstruction_baselines(train, test, seed, image_size, md5)
    pixels = {
        part: read_thz_stack(frame.path, image_size, md5).reshape(len(frame), -1)
        for part, frame in (("train", train), ("test", test))
    }
    pca = PCA(n_components=min(components, len(train) - 1), whiten=True, random_state=seed).fit(pixels["train"])
    test_emb = pca.transform(pixels["test"])
    probe = test.concealed.to_numpy(bool)
    scores = cosine_pair_scores(test_emb[probe], test_emb[~probe])
    same_identity = test.identity.to_numpy()[probe][:, None] == test.identity.to_numpy()[~probe][None, :]
    same_posture = test.posture.to_numpy()[probe][:, None] == test.posture.to_numpy()[~probe][None, :]
    train_conc = train.concealed.to_numpy(bool)
    clf = LogisticRegression(max_iter=3000, C=0.01).fit(pixels["train"][train_conc], train.posture[train_conc])
    predicted = clf.predict(pixels["test"][probe])
    truth = test.posture.to_numpy()[probe]
    return {
        "verification": verification_metrics(scores.ravel(), same_identity.ravel()),
        "verification_same_posture": verification_metrics(scores[same_posture], same_identity[same_posture]),
        "posture": {
            "accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, average="macro")),
        },
        "reconstruction": recon,
        "test_identities": int(test.identity.nunique()),
        "test_images": int(len(test)),
    }


def reconstruction_baselines(
    train: pd.DataFrame, test: pd.DataFrame, seed: int, image_size: int, md5: dict[str, str]
) -> dict:
    """SSIM to the unconcealed target of (a) the concealed input itself and (b) a ridge regression
    from concealed pixels to target pixels in a 64-component PCA space, fitted on training pairs."""
    conc_train, conc_test = train[train.concealed], test[test.concealed]
    read = lambda paths: read_thz_stack(paths, image_size, md5)  # noqa: E731
    x_train, y_train = read(conc_train.path), read(conc_train.target)
    x_test, y_test = read(conc_test.path), read(conc_test.target)
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    pca = PCA(n_components=min(64, len(x_train) - 1), random_state=seed).fit(flat(x_train))
    ridge = Ridge(alpha=10.0).fit(pca.transform(flat(x_train)), flat(y_train))
    predicted = np.clip(ridge.predict(pca.transform(flat(x_test))), 0, 1).reshape(y_test.shape)
    target = torch.from_numpy(y_test)[:, None]

    def ssim_of(a):
        return float(ssim_per_sample(torch.from_numpy(np.ascontiguousarray(a, np.float32))[:, None], target).mean())

    return {"ssim_identity": ssim_of(x_test), "ssim_ridge": ssim_of(predicted)}
