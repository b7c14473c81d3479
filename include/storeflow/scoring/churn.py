"""Churn risk = calibrated P(no order in the next 90 days), and the ranking metrics used to judge it.

The raw score is BG/NBD's P(no purchase in (T, T+t] | history) (see
:meth:`storeflow.scoring.btyd.BGNBDModel.prob_no_purchase`). For one-time buyers p_alive is exactly 1, but
this probability still falls with the time since their order, so it ranks them sensibly. The raw score is
calibrated by isotonic regression (pool adjacent violators, ``scipy.optimize.isotonic_regression``) on
the backtest: calibration-period model, labels = no purchase in the holdout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import numpy.typing as npt
from scipy.optimize import isotonic_regression
from scipy.stats import rankdata


class CalibratorDict(TypedDict):
    """JSON form of an :class:`IsotonicCalibrator`."""

    x: list[float]
    y: list[float]


@dataclass(frozen=True)
class IsotonicCalibrator:
    """Monotone map raw score -> probability (piecewise linear between the fitted knots)."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, raw: npt.ArrayLike) -> npt.NDArray[np.float64]:
        raw = np.asarray(raw, dtype=float)
        if not self.x:
            return raw
        return np.interp(raw, self.x, self.y)

    def to_dict(self) -> CalibratorDict:
        """JSON-friendly form."""
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, d: CalibratorDict | None) -> IsotonicCalibrator:
        """Inverse of :meth:`to_dict` (``None`` = identity)."""
        return cls(tuple(d["x"]), tuple(d["y"])) if d else cls((), ())


def fit_isotonic(raw: npt.ArrayLike, label: npt.ArrayLike, max_knots: int = 200) -> IsotonicCalibrator:
    """Isotonic (non-decreasing) calibration of ``raw`` to the 0/1 ``label``."""
    raw = np.asarray(raw, dtype=float)
    label = np.asarray(label, dtype=float)
    if raw.size == 0:
        return IsotonicCalibrator((), ())
    order = np.argsort(raw, kind="mergesort")
    xs, inv = np.unique(raw[order], return_inverse=True)
    ys = np.bincount(inv, weights=label[order]) / np.bincount(inv)
    ws = np.bincount(inv).astype(float)
    fitted = isotonic_regression(ys, weights=ws, increasing=True).x
    # compress: keep the ends of each constant block (the map stays the same)
    keep = np.ones(xs.size, dtype=bool)
    if xs.size > 2:
        flat_prev = np.r_[False, fitted[1:] == fitted[:-1]]
        flat_next = np.r_[fitted[:-1] == fitted[1:], False]
        keep = ~(flat_prev & flat_next)
    xs, fitted = xs[keep], fitted[keep]
    if xs.size > max_knots:
        pick = np.unique(np.linspace(0, xs.size - 1, max_knots).round().astype(int))
        xs, fitted = xs[pick], fitted[pick]
    return IsotonicCalibrator(tuple(float(v) for v in xs), tuple(float(v) for v in fitted))


def auc(score: npt.ArrayLike, label: npt.ArrayLike) -> float:
    """ROC AUC (Mann-Whitney, ties count half); nan when one class is missing."""
    score = np.asarray(score, dtype=float)
    label = np.asarray(label).astype(bool)
    n_pos, n_neg = int(label.sum()), int((~label).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def reliability(prob: npt.ArrayLike, label: npt.ArrayLike, bins: int = 10) -> list[dict[str, float]]:
    """Calibration table: per decile of predicted probability, mean prediction and observed rate."""
    prob = np.asarray(prob, dtype=float)
    label = np.asarray(label, dtype=float)
    if prob.size == 0:
        return []
    edges = np.unique(np.quantile(prob, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, max(edges.size - 2, 0))
    out: list[dict[str, float]] = []
    for k in range(max(edges.size - 1, 1)):
        sel = which == k
        if sel.any():
            out.append({"predicted": float(prob[sel].mean()), "observed": float(label[sel].mean()),
                        "n": int(sel.sum())})
    return out
