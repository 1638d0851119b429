"""Linear discriminant analysis: the field's baseline classifier for myoelectric control.

Gaussian classes sharing one covariance. Features are standardised with the training set's mean
and SD; the pooled within-class covariance is shrunk towards a scaled identity (``shrinkage``),
which keeps it invertible when features outnumber calibration windows or two channels are
almost copies of each other (cross-talk). Class priors are equal by default: calibration
records classes for equal times, and rest is not more likely because the patient rests more.

Numpy only, so the core needs no machine-learning library (scikit-learn's
``LinearDiscriminantAnalysis`` gives the same decisions; see docs/phantom-motor-execution.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


@dataclass(frozen=True)
class LdaModel:
    """A fitted LDA: class names, standardisation, and linear discriminant weights."""

    classes: tuple[str, ...]
    mean: Array  # feature means (standardisation)
    scale: Array  # feature SDs (standardisation)
    weights: Array  # (features × classes)
    bias: Array  # (classes,)

    def scores(self, x: Array) -> Array:
        """Discriminant scores (windows × classes) of feature rows ``x``."""
        z = (np.atleast_2d(np.asarray(x, dtype=np.float64)) - self.mean) / self.scale
        return z @ self.weights + self.bias

    def proba(self, x: Array) -> Array:
        """Posterior probability of each class (windows × classes); rows sum to 1."""
        s = self.scores(x)
        s = s - s.max(axis=1, keepdims=True)  # softmax without overflow
        e = np.exp(s)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x: Array) -> list[str]:
        """The most likely class of each feature row."""
        return [self.classes[i] for i in np.argmax(self.scores(x), axis=1)]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (the session folder keeps the model that ran)."""
        return {
            "kind": "lda",
            "classes": list(self.classes),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": self.bias.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LdaModel:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tuple(d["classes"]),
            np.asarray(d["mean"], dtype=np.float64),
            np.asarray(d["scale"], dtype=np.float64),
            np.asarray(d["weights"], dtype=np.float64),
            np.asarray(d["bias"], dtype=np.float64),
        )


def fit_lda(
    x: Array,
    labels: Sequence[str],
    *,
    shrinkage: float = 0.05,
    classes: Sequence[str] | None = None,
) -> LdaModel:
    """Fit LDA to feature rows ``x`` with one label each.

    ``classes`` fixes the class order (default: sorted labels); every class needs at least one
    row. ``shrinkage`` ∈ [0, 1] blends the pooled covariance with its scaled identity.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(list(labels))
    if x.ndim != 2 or len(x) != len(y) or len(x) == 0:
        raise ValueError("x must be (windows × features) with one label per window")
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError("shrinkage must be in [0, 1]")
    names = tuple(classes) if classes is not None else tuple(sorted(set(y.tolist())))
    missing = [c for c in names if not np.any(y == c)]
    if missing:
        raise ValueError(f"no calibration windows for class(es) {missing}")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)  # a constant feature carries no information
    z = (x - mean) / scale
    d = z.shape[1]
    means = np.stack([z[y == c].mean(axis=0) for c in names])
    resid = np.concatenate([z[y == c] - means[i] for i, c in enumerate(names)])
    cov = resid.T @ resid / max(1, len(z) - len(names))
    target = np.trace(cov) / d if np.trace(cov) > 0 else 1.0
    cov = (1.0 - shrinkage) * cov + shrinkage * target * np.eye(d)
    cov += 1e-9 * np.eye(d)  # still invertible with shrinkage 0 and collinear features
    inv_means = np.linalg.solve(cov, means.T)  # (features × classes)
    bias = -0.5 * np.sum(means.T * inv_means, axis=0) + np.log(1.0 / len(names))
    return LdaModel(names, mean, scale, inv_means, bias)
