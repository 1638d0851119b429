"""Offline evaluation of a calibration: cross-validated accuracy and confusion matrix (pure).

Windows overlap and neighbouring windows of one contraction are nearly alike, so folds are cut
by *repetition* (group): every window of a contraction is either trained on or tested, never
both, which keeps the estimate honest (a per-window split overstates accuracy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mirrorvr.decoding.lda import fit_lda


@dataclass(frozen=True)
class CrossValidation:
    """Accuracy over all held-out windows and the confusion matrix (rows true, columns decoded)."""

    classes: tuple[str, ...]
    confusion: NDArray[np.int64]
    folds: int

    @property
    def accuracy(self) -> float:
        """Fraction of held-out windows decoded as their label."""
        total = int(self.confusion.sum())
        return float(np.trace(self.confusion)) / total if total else float("nan")

    def per_class(self) -> dict[str, float]:
        """Recall of each class (its row's diagonal share)."""
        out = {}
        for i, c in enumerate(self.classes):
            n = int(self.confusion[i].sum())
            out[c] = float(self.confusion[i, i]) / n if n else float("nan")
        return out

    def to_dict(self) -> dict[str, object]:
        """Plain data for an event or a report."""
        return {
            "classes": list(self.classes),
            "confusion": self.confusion.tolist(),
            "accuracy": self.accuracy,
            "folds": self.folds,
        }


def cross_validate(
    x: NDArray[np.float64],
    labels: Sequence[str],
    groups: Sequence[int],
    *,
    folds: int = 5,
    shrinkage: float = 0.05,
    classes: Sequence[str] | None = None,
) -> CrossValidation:
    """Grouped k-fold cross-validation of LDA (groups: the repetition each window belongs to).

    With fewer groups than ``folds``, each group is its own fold (leave-one-repetition-out).
    A training fold missing a class is skipped for that class's test windows (counted nowhere).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(list(labels))
    g = np.asarray(list(groups))
    names = tuple(classes) if classes is not None else tuple(sorted(set(y.tolist())))
    index = {c: i for i, c in enumerate(names)}
    uniq = np.unique(g)
    k = max(2, min(folds, len(uniq)))
    fold_of = {int(u): i % k for i, u in enumerate(uniq)}
    fold = np.array([fold_of[int(v)] for v in g])
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    for f in range(k):
        test = fold == f
        train = ~test
        present = [c for c in names if np.any(y[train] == c)]
        if len(present) < 2 or not np.any(test):
            continue
        model = fit_lda(x[train], y[train].tolist(), shrinkage=shrinkage, classes=present)
        predicted = model.predict(x[test])
        for true, pred in zip(y[test], predicted, strict=True):
            if true in present:
                confusion[index[str(true)], index[pred]] += 1
    return CrossValidation(names, confusion, k)
