"""The fold-averaged ROC and its two views, on curves with known points: the log-FAR column and the
DET curve's normal deviates, rates of 0 and 1 clipped to the axes' edge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thz.eval.curves import LOWEST_RATE, average_roc, det_table, probit


def test_average_roc_is_the_mean_true_accept_rate_at_each_false_accept_rate():
    one = pd.DataFrame({"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 1.0, 1.0]})
    two = pd.DataFrame({"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]})
    assert average_roc([one]).equals(one[["fpr", "tpr"]])
    mean = average_roc([one, two]).set_index("fpr").tpr
    assert mean.loc[0.0] == 0.0 and mean.loc[0.5] == pytest.approx(0.75) and mean.loc[1.0] == pytest.approx(1.0)
    assert mean.is_monotonic_increasing
    vertical = pd.DataFrame({"fpr": [0.0, 0.0, 0.0, 1.0], "tpr": [0.0, 0.4, 0.8, 1.0]})  # sklearn's steps
    assert average_roc([vertical, vertical]).set_index("fpr").tpr.loc[0.0] == pytest.approx(0.8)
    assert sorted(set(mean.index))[1] == LOWEST_RATE  # the lowest FAR the average keeps but 0


def test_det_table_known_points():
    roc = pd.DataFrame({"fpr": [0.0, 0.001, 0.01, 0.1, 0.5, 1.0], "tpr": [0.2, 0.5, 0.9, 0.99, 1.0, 1.0]})
    det = det_table(roc)
    assert list(det.columns) == ["fpr", "tpr", "fnr", "log10_fpr", "probit_fpr", "probit_fnr"]
    assert det.fnr.tolist() == pytest.approx([0.8, 0.5, 0.1, 0.01, 0.0, 0.0])
    assert det.log10_fpr.tolist() == pytest.approx([-4, -3, -2, -1, np.log10(0.5), 0])  # FAR 0 at the edge, 1e-4
    # normal deviates: Phi^-1(0.001) = -3.0902, (0.01) = -2.3263, (0.1) = -1.2816, (0.5) = 0, (0.8) = 0.8416
    assert det.probit_fpr.tolist()[1:5] == pytest.approx([-3.0902, -2.3263, -1.2816, 0.0], abs=1e-4)
    assert det.probit_fnr.tolist()[:4] == pytest.approx([0.8416, 0.0, -1.2816, -2.3263], abs=1e-4)
    edge = 3.7190  # Phi^-1(1e-4): rates of 0 and 1 drawn at 0.01 % and 99.99 %
    assert det.probit_fpr.iloc[0] == pytest.approx(-edge, abs=1e-4) and det.probit_fpr.iloc[-1] == pytest.approx(
        edge, abs=1e-4
    )
    assert det.probit_fnr.iloc[-2:].tolist() == pytest.approx([-edge, -edge], abs=1e-4)
    assert np.isfinite(det.drop(columns=["fpr", "tpr", "fnr"]).to_numpy()).all()


def test_probit_is_symmetric_and_monotone():
    rates = np.array([0.0, 1e-5, 0.02, 0.3, 0.7, 0.98, 1.0])
    z = probit(rates)
    assert np.all(np.diff(z) >= 0) and z == pytest.approx(-probit(1 - rates))
    assert z[0] == z[1]  # below LOWEST_RATE: clipped alike
