"""Boosted buy-again model: gradient-boosted trees on (x, t_x, T) plus behaviour features.

BG/NBD sees only (x, t_x, T). This model adds inter-purchase regularity, recent activity and trend,
spend trend, the customer's own seasonality, channel and category mix (:mod:`storeflow.scoring.features`)
and learns from the retailer's own history with rolling time splits: for each training origin ``c``
(``c = end - k·horizon``, k = 1..n_origins) the features at ``c`` (with a BG/NBD fitted on the orders up
to ``c``) are paired with what each customer did in ``(c, c + horizon]``. Two scikit-learn
``HistGradientBoosting`` models are fitted on the stacked origins: a classifier for P(at least one
purchase day in the horizon) and Poisson regressors for the number of purchase days and for the
revenue (which ranks customers by value). The classifier
is calibrated by isotonic regression on a validation share of the customers (split by a stable hash, so
one customer's origins stay on one side); the regressors need no calibration and learn from every row.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from storeflow.scoring.btyd import BGNBDModel, ConvergenceError, fit_bgnbd
from storeflow.scoring.churn import IsotonicCalibrator, fit_isotonic
from storeflow.scoring.features import FEATURE_COLUMNS, customer_features, holdout_labels
from storeflow.scoring.summary import customer_summary

#: The model's inputs: every feature except BG/NBD's own outputs. With them the backtests were no better
#: (replenishers, declining) or worse (gift buyers: aggregate error -22 % instead of -13 %), because
#: BG/NBD is refitted at every origin and its outputs shift in scale from one origin to the next.
MODEL_FEATURES = [c for c in FEATURE_COLUMNS if not c.startswith("bg_")]

__all__ = ["MODEL_FEATURES", "BoostedModel", "fit_bgnbd_at", "fit_boosted", "training_frame"]


class Classifier(Protocol):
    """A fitted probabilistic classifier (scikit-learn's ``predict_proba``)."""

    def predict_proba(self, X: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...


class Regressor(Protocol):
    """A fitted regressor (scikit-learn's ``predict``)."""

    def predict(self, X: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...


def _one_thread() -> AbstractContextManager[object]:
    """OpenMP limited to one thread: on a small shared machine the trees' OpenMP threads spin against
    other processes and run about ten times slower than one thread."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="openmp")


def _bucket(ids: Iterable[object], n: int) -> npt.NDArray[np.int64]:
    """A stable bucket 0..n-1 per customer id (vectorised, same across runs and machines)."""
    return (pd.util.hash_array(np.asarray([str(i) for i in ids], dtype=object)) % np.uint64(n)).astype(np.int64)


def fit_bgnbd_at(orders: pd.DataFrame, cutoff: datetime, penalizer: float = 0.0) -> BGNBDModel | None:
    """BG/NBD fitted on the orders up to ``cutoff`` (None when it cannot be fitted)."""
    s = customer_summary(orders, cutoff)
    s = s[s["T"] > 0]
    if len(s) < 10:
        return None
    try:
        return fit_bgnbd(s["frequency"], s["recency"], s["T"], penalizer=penalizer)
    except (ConvergenceError, ValueError):
        return None


def training_frame(orders: pd.DataFrame, lines: pd.DataFrame | None, end: datetime, horizon_days: int,
                   n_origins: int = 8, *, penalizer: float = 0.0, max_customers: int = 50_000
                   ) -> pd.DataFrame:
    """Stacked (features, labels) of the origins ``end - k·horizon`` whose labels end by ``end``.

    Columns: :data:`FEATURE_COLUMNS`, ``purchases``, ``revenue``, ``origin`` (k), ``customer_id``.
    Origins before the first order, or without a BG/NBD fit, are skipped. At most ``max_customers``
    customers per origin (a stable-hash sample) keep large retailers' training time bounded.
    """
    first = orders["created_at"].min() if len(orders) else None
    frames = []
    for k in range(1, n_origins + 1):
        cutoff = end - timedelta(days=k * horizon_days)
        if first is None or cutoff - first < timedelta(days=horizon_days):
            break
        bg = fit_bgnbd_at(orders, cutoff, penalizer)
        if bg is None:
            continue
        f = customer_features(orders, cutoff, horizon_days, lines=lines, bg=bg)
        f = f[f["T"] > 0]
        if len(f) > max_customers:
            f = f[_bucket(f.index, 1_000_000) < 1_000_000 * max_customers / len(f)]
        lab = holdout_labels(orders, cutoff, horizon_days).reindex(f.index).fillna(0.0)
        f = f.assign(purchases=lab["purchases"].to_numpy(), revenue=lab["revenue"].to_numpy(), origin=k)
        frames.append(f.reset_index())
    if not frames:
        return pd.DataFrame(columns=[*FEATURE_COLUMNS, "purchases", "revenue", "origin", "customer_id"])
    return pd.concat(frames, ignore_index=True)


@dataclass
class BoostedModel:
    """A fitted boosted model; :meth:`predict` takes a :func:`customer_features` frame."""

    horizon_days: int
    classifier: Classifier
    regressor: Regressor
    calibrator: IsotonicCalibrator
    revenue: Regressor | None = None
    features: list[str] = field(default_factory=lambda: list(MODEL_FEATURES))
    info: dict[str, int | list[int]] = field(default_factory=dict)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """``p_buy`` (calibrated P(at least one purchase day in the horizon)), ``expected`` purchase days and
        ``revenue`` (expected, minor units) aligned with ``features``."""
        X = features[self.features].to_numpy(dtype=float)
        if X.shape[0] == 0:
            return pd.DataFrame({"p_buy": [], "expected": [], "revenue": []}, index=features.index)
        with _one_thread():
            raw = self.classifier.predict_proba(X)[:, 1]
            expected = np.maximum(self.regressor.predict(X), 0.0)
            revenue = np.maximum(self.revenue.predict(X), 0.0) if self.revenue is not None else \
                np.full(X.shape[0], np.nan)
        p_buy = np.clip(self.calibrator(raw), 0.0, 1.0)
        # a customer expected to buy with probability p makes at least p purchase days
        return pd.DataFrame({"p_buy": p_buy, "expected": np.maximum(expected, p_buy), "revenue": revenue},
                            index=features.index)


def fit_boosted(train: pd.DataFrame, horizon_days: int, *, validation_share: float = 0.25, seed: int = 0,
                max_iter: int = 200) -> BoostedModel:
    """Fit classifier + Poisson regressor on a :func:`training_frame`; calibrate on held-out customers."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if len(train) < 50:
        raise ValueError("too few training rows for the boosted model")
    # columns without two distinct values (no order lines, one channel only ...) carry no information, and
    # the trees' binning cannot handle them
    cols = [c for c in MODEL_FEATURES if train[c].dropna().nunique() >= 2]
    X = train[cols].to_numpy(dtype=float)
    y_n = train["purchases"].to_numpy(dtype=float)
    y = y_n > 0
    if y.all() or not y.any():
        raise ValueError("the training labels have one class only")
    n_parts = 1000
    val = _bucket(train["customer_id"], n_parts) < validation_share * n_parts
    if val.all() or not val.any() or y[~val].all() or not y[~val].any():
        val = np.zeros(len(train), dtype=bool)
    common = {"max_iter": max_iter, "learning_rate": 0.06, "max_leaf_nodes": 15, "min_samples_leaf": 40,
              "l2_regularization": 1.0, "random_state": seed, "early_stopping": False}
    clf = HistGradientBoostingClassifier(**common)
    reg = HistGradientBoostingRegressor(loss="poisson", **common)
    rev = HistGradientBoostingRegressor(loss="poisson", **common)
    y_rev = train["revenue"].to_numpy(dtype=float)
    with _one_thread():
        clf.fit(X[~val], y[~val])
        # the regressors need no calibration split: they learn from every row
        reg.fit(X, y_n)
        rev.fit(X, y_rev / max(float(np.mean(y_rev)), 1e-9))
        raw_val = clf.predict_proba(X[val])[:, 1] if val.any() else None
    if raw_val is not None:
        calibrator = fit_isotonic(raw_val, y[val])
    else:
        calibrator = IsotonicCalibrator((), ())
    return BoostedModel(horizon_days, clf, reg, calibrator, revenue=rev, features=cols,
                        info={"training_rows": int((~val).sum()), "validation_rows": int(val.sum()),
                              "origins": sorted({int(o) for o in train["origin"]})})
