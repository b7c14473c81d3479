"""Side-by-side backtest of BG/NBD, the boosted model and the recency-only rule on held-out time.

The evaluation cutoff is ``as_of - horizon``; every model sees only orders up to it and is judged on
what the customers did in ``(cutoff, as_of]``. The boosted model is trained on earlier origins
(``cutoff - k·horizon``), so nothing of the evaluation window leaks into it. The recency-only rule
ranks customers by days since their last purchase; its probabilities and counts are isotonic maps of
recency learned on the latest training origin. Metrics per model (:func:`evaluate`):

* ``aggregate_error``: (Σ predicted - Σ actual purchase days) / Σ actual;
* ``auc_buy_again`` and ``auc_buy_again_one_time`` (customers with one purchase day only);
* ``top_decile_revenue_capture``: holdout revenue share of the 10 % with the highest predicted value;
* calibration of P(buy again): ``brier`` and ``ece`` (expected calibration error, 10 equal-count bins)
  and the reliability table.

:func:`decide` picks the boosted model only when it beats BG/NBD on this backtest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

import numpy as np
import numpy.typing as npt
import pandas as pd

from storeflow.scoring.boosted import fit_bgnbd_at, fit_boosted, training_frame
from storeflow.scoring.btyd import ConvergenceError, fit_gamma_gamma
from storeflow.scoring.churn import auc, reliability
from storeflow.scoring.features import customer_features, holdout_labels
from storeflow.scoring.summary import customer_summary

MetricName = Literal["aggregate_error", "auc_buy_again", "auc_buy_again_one_time", "top_decile_revenue_capture",
                     "brier", "ece"]


class ModelMetrics(TypedDict):
    """One model's backtest metrics (:func:`evaluate`); None where a metric is undefined."""

    aggregate_error: float | None
    auc_buy_again: float | None
    auc_buy_again_one_time: float | None
    top_decile_revenue_capture: float | None
    brier: float | None
    ece: float | None
    reliability: list[dict[str, float]]


MODEL_BGNBD = "bgnbd"
MODEL_BOOSTED = "boosted"
MODEL_RECENCY = "recency_rule"
MODEL_LABELS = {MODEL_BGNBD: "BG/NBD", MODEL_BOOSTED: "boosted (gradient-boosted trees)",
                MODEL_RECENCY: "recency-only rule"}
METRIC_LABELS = {
    "aggregate_error": "aggregate error (purchases)",
    "auc_buy_again": "buy-again AUC (all)",
    "auc_buy_again_one_time": "buy-again AUC (one-time buyers)",
    "top_decile_revenue_capture": "top-decile revenue capture",
    "brier": "Brier score P(buy again)",
    "ece": "calibration error (ECE)",
}


def _none_if_nan(v: float | None) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def ece(prob: npt.ArrayLike, label: npt.ArrayLike, bins: int = 10) -> float:
    """Expected calibration error: Σ_bins share · |mean prediction - observed rate| (equal-count bins)."""
    rel = reliability(prob, label, bins)
    n = sum(r["n"] for r in rel)
    return float(sum(r["n"] * abs(r["predicted"] - r["observed"]) for r in rel) / n) if n else float("nan")


def evaluate(p_buy: npt.ArrayLike, expected: npt.ArrayLike, value: npt.ArrayLike, actual_n: npt.ArrayLike,
             actual_rev: npt.ArrayLike, one_time: npt.ArrayLike) -> ModelMetrics:
    """Metrics of one model (see the module docstring); ``value`` ranks for the top decile."""
    p_buy, expected, value = (np.asarray(v, dtype=float) for v in (p_buy, expected, value))
    actual_n, actual_rev = np.asarray(actual_n, dtype=float), np.asarray(actual_rev, dtype=float)
    one_time = np.asarray(one_time, dtype=bool)
    bought = actual_n > 0
    total = actual_n.sum()
    top = np.argsort(-value, kind="mergesort")[: max(1, int(np.ceil(0.1 * value.size)))]
    return {
        "aggregate_error": _none_if_nan((expected.sum() - total) / total) if total else None,
        "auc_buy_again": _none_if_nan(auc(p_buy, bought)),
        "auc_buy_again_one_time": _none_if_nan(auc(p_buy[one_time], bought[one_time])),
        "top_decile_revenue_capture": _none_if_nan(actual_rev[top].sum() / actual_rev.sum())
        if actual_rev.sum() else None,
        "brier": _none_if_nan(np.mean((p_buy - bought) ** 2)),
        "ece": _none_if_nan(ece(p_buy, bought)),
        "reliability": reliability(p_buy, bought),
    }


def lift_curve(value: npt.ArrayLike, actual_rev: npt.ArrayLike, points: int = 20) -> list[dict[str, float]]:
    """Cumulative share of holdout revenue captured by the top share of customers ranked by ``value``."""
    value, actual_rev = np.asarray(value, dtype=float), np.asarray(actual_rev, dtype=float)
    if value.size == 0 or actual_rev.sum() <= 0:
        return []
    cum = np.cumsum(actual_rev[np.argsort(-value, kind="mergesort")]) / actual_rev.sum()
    out: list[dict[str, float]] = []
    for share in np.linspace(0, 1, points + 1)[1:]:
        k = max(1, int(np.ceil(share * value.size)))
        out.append({"share": float(share), "captured": float(cum[k - 1])})
    return out


@dataclass
class Comparison:
    """The side-by-side table, lift curves, the decision and what it was based on."""

    table: dict[str, ModelMetrics]
    lift: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    winner: str = MODEL_BGNBD
    reason: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (stored in ``model_runs.metrics``)."""
        return {"table": self.table, "lift": self.lift, "winner": self.winner, "reason": self.reason,
                "info": self.info}


def decide(table: dict[str, ModelMetrics], max_aggregate_error: float = 0.08) -> tuple[str, str]:
    """``boosted`` when it has a higher AUC, no lower top-decile capture and an aggregate error within
    ``max_aggregate_error`` (or no worse than BG/NBD's); else ``bgnbd``. Returns ``(winner, reason)``."""
    bg, bo = table.get(MODEL_BGNBD), table.get(MODEL_BOOSTED)
    if not bo:
        return MODEL_BGNBD, "boosted model not trained (too little history)"
    if not bg:
        return MODEL_BGNBD, "no BG/NBD backtest to compare against"

    def f(d: ModelMetrics, k: MetricName) -> float:
        v = d.get(k)
        return float("nan") if v is None else float(v)

    auc_ok = f(bo, "auc_buy_again") > f(bg, "auc_buy_again")
    cap_ok = f(bo, "top_decile_revenue_capture") >= f(bg, "top_decile_revenue_capture")
    agg_ok = abs(f(bo, "aggregate_error")) <= max(max_aggregate_error, abs(f(bg, "aggregate_error")))
    summary = (f"backtest AUC {f(bo, 'auc_buy_again'):.3f} vs {f(bg, 'auc_buy_again'):.3f}, "
               f"top-decile capture {f(bo, 'top_decile_revenue_capture'):.1%} vs "
               f"{f(bg, 'top_decile_revenue_capture'):.1%}, aggregate error "
               f"{f(bo, 'aggregate_error'):+.1%} vs {f(bg, 'aggregate_error'):+.1%} (boosted vs BG/NBD)")
    if auc_ok and cap_ok and agg_ok:
        return MODEL_BOOSTED, f"boosted beats BG/NBD: {summary}"
    return MODEL_BGNBD, f"boosted does not beat BG/NBD: {summary}"


def _spend(cal: pd.DataFrame, penalizer: float) -> npt.NDArray[np.float64]:
    x = cal["frequency"].to_numpy(dtype=float)
    try:
        gg = fit_gamma_gamma(x, cal["monetary"].to_numpy(dtype=float), penalizer=penalizer)
        return gg.expected_spend(x, cal["monetary"].to_numpy(dtype=float))
    except (ConvergenceError, ValueError):
        return cal["aov_minor"].to_numpy(dtype=float)


def compare_models(orders: pd.DataFrame, lines: pd.DataFrame | None, as_of: datetime, horizon_days: int, *,
                   n_origins: int = 8, penalizer: float = 0.0, max_aggregate_error: float = 0.08,
                   max_iter: int = 200) -> Comparison:
    """Backtest the three models on ``(as_of - horizon, as_of]`` (see the module docstring)."""
    from sklearn.isotonic import IsotonicRegression

    cutoff = as_of - timedelta(days=horizon_days)
    info: dict[str, Any] = {"cutoff": cutoff.isoformat(), "horizon_days": horizon_days}
    bg = fit_bgnbd_at(orders, cutoff, penalizer)
    if bg is None:
        return Comparison({}, winner=MODEL_BGNBD, reason="BG/NBD could not be fitted before the cutoff",
                          info=info)
    feats = customer_features(orders, cutoff, horizon_days, lines=lines, bg=bg)
    feats = feats[feats["T"] > 0]
    cal = customer_summary(orders, cutoff).set_index("customer_id").reindex(feats.index)
    spend = _spend(cal.reset_index(), penalizer)
    lab = holdout_labels(orders, cutoff, horizon_days).reindex(feats.index).fillna(0.0)
    act_n, act_rev = lab["purchases"].to_numpy(), lab["revenue"].to_numpy()
    one = feats["frequency"].to_numpy() == 0
    info.update(customers=len(feats), one_time_buyers=int(one.sum()), actual_purchases=float(act_n.sum()))
    table: dict[str, ModelMetrics] = {}
    lift: dict[str, list[dict[str, float]]] = {}
    bg_p, bg_e = feats["bg_p_buy"].to_numpy(), feats["bg_expected"].to_numpy()
    table[MODEL_BGNBD] = evaluate(bg_p, bg_e, bg_e * spend, act_n, act_rev, one)
    lift[MODEL_BGNBD] = lift_curve(bg_e * spend, act_rev)

    train = training_frame(orders, lines, cutoff, horizon_days, n_origins, penalizer=penalizer)
    latest = train[train["origin"] == 1] if len(train) else train
    rec = feats["recency_days"].to_numpy(dtype=float)
    if len(latest) >= 10:
        iso_p = IsotonicRegression(increasing=False, out_of_bounds="clip").fit(
            latest["recency_days"], (latest["purchases"] > 0).astype(float))
        iso_n = IsotonicRegression(increasing=False, out_of_bounds="clip").fit(
            latest["recency_days"], latest["purchases"])
        rp, rn = iso_p.predict(rec), iso_n.predict(rec)
    else:
        rp = rn = np.full(rec.size, np.nan)
    table[MODEL_RECENCY] = evaluate(np.where(np.isnan(rp), -rec, rp), np.nan_to_num(rn), -rec, act_n, act_rev, one)
    lift[MODEL_RECENCY] = lift_curve(-rec, act_rev)
    try:
        model = fit_boosted(train, horizon_days, max_iter=max_iter)
    except ValueError as exc:
        info["boosted_error"] = str(exc)
    else:
        pred = model.predict(feats)
        # value ranking: geometric mean of (expected purchase days x Gamma-Gamma spend) and the revenue
        # regressor (scale-free, so the regressor's unit does not matter); better than either alone on
        # every seeded world and seed tried
        value = np.sqrt(pred["expected"].to_numpy() * spend * pred["revenue"].to_numpy())
        table[MODEL_BOOSTED] = evaluate(pred["p_buy"], pred["expected"], value, act_n, act_rev, one)
        lift[MODEL_BOOSTED] = lift_curve(value, act_rev)
        info["boosted"] = model.info
    winner, reason = decide(table, max_aggregate_error)
    return Comparison(table, lift, winner, reason, info)
