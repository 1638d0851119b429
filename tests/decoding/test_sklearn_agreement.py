"""The numpy LDA decides like scikit-learn's (a dev dependency: the cross-check only)."""

from __future__ import annotations

import numpy as np
import pytest

from mirrorvr.decoding.lda import fit_lda
from mirrorvr.sim.residual_emg import ResidualLimbEmg

from .test_simulated_decoding import _record

sklearn_lda = pytest.importorskip("sklearn.discriminant_analysis")
preprocessing = pytest.importorskip("sklearn.preprocessing")


def test_numpy_lda_agrees_with_scikit_learn_on_simulated_emg() -> None:
    limb = ResidualLimbEmg(seed=2, patient_seed=2)
    rows, labels, t = _record(limb, 0.0, 3)
    test, _, _ = _record(limb, t, 2)
    ours = fit_lda(rows.x, labels, shrinkage=0.05)
    scaler = preprocessing.StandardScaler().fit(rows.x)
    theirs = sklearn_lda.LinearDiscriminantAnalysis(
        solver="lsqr", shrinkage=0.05, priors=np.full(len(ours.classes), 1 / len(ours.classes))
    ).fit(scaler.transform(rows.x), labels)
    a = np.array(ours.predict(test.x))
    b = theirs.predict(scaler.transform(test.x))
    assert np.mean(a == b) >= 0.98
