"""The floor every model must clear: PCA + cosine verification and pixel logistic regression.

It also guards the simulator: if raw pixels already verify people almost perfectly, the data
are too easy to tell us anything about the networks.
"""

from __future__ import annotations

import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from thz.data.images import read_stack
from thz.metrics.verification import cosine_pair_scores, verification_metrics


def pixel_baseline(images: pd.DataFrame, seed: int, components: int = 32) -> dict:
    """Fit on the train identities, score on the test identities of one per-image table.

    Verification: concealed probes against unconcealed gallery images, all pairs, PCA
    (whitened, fitted on training images of both kinds) then cosine similarity; also restricted
    to same-posture pairs, the easier case. Posture: logistic regression on the pixels of
    concealed images.
    """
    train, test = images[images.split == "train"], images[images.split == "test"]
    pixels = {
        part: read_stack(frame.path).reshape(len(frame), -1) for part, frame in (("train", train), ("test", test))
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
        "test_identities": int(test.identity.nunique()),
        "test_images": int(len(test)),
    }
