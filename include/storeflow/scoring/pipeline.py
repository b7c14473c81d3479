"""Scoring pipeline entry points for the ``score_customers`` DAG (no Airflow imports here).

1. :func:`fit_models` (once): read the warehouse, apply the minimum-data gate, fit BG/NBD + Gamma-Gamma,
   backtest and calibrate churn, backtest BG/NBD, the boosted model and the recency-only rule side by
   side (``metrics["comparison"]``) and train the boosted model when it beats BG/NBD on that backtest
   (and the backtest has ``boosted_min_customers``; its pickle goes to ``model_runs.artifact``), compute
   the population-level pieces every partition needs (RFM quintile cut points, send-time prior, SKU repeat
   intervals), store them in ``model_runs``.
2. :func:`score_partition` (mapped over ``n_partitions``): score the customers whose stable hash falls in
   the partition (each row's ``method`` / ``method_reason`` say which model served it and why), write
   ``customer_scores`` / ``replenishment_predictions`` rows under the model version
   (not visible to readers yet) and record the partition in ``score_partitions``.
3. :func:`publish_scores`: check every partition is there, then flip ``score_versions.is_current`` in one
   transaction (readers see the old or the new version, never a mix); prune old versions.
4. :func:`write_report`: HTML report with plots into the landing zone.

Readers use :func:`current_scores` / :func:`current_replenishment`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, func, inspect, select, update

from storeflow.landing import ObjectStore
from storeflow.scoring import rfm
from storeflow.scoring.affinity import category_affinity
from storeflow.scoring.backtest import run_backtest
from storeflow.scoring.btyd import BGNBDModel, ConvergenceError, GammaGammaModel, fit_bgnbd, fit_gamma_gamma
from storeflow.scoring.channel import preferred_channels
from storeflow.scoring.churn import IsotonicCalibrator
from storeflow.scoring.data_sufficiency import METHOD_BOOSTED, METHOD_HEURISTIC, METHOD_MODEL, decide
from storeflow.scoring.hashing import partition_of
from storeflow.scoring.predict import heuristic_predictions, model_predictions, population_gap_days
from storeflow.scoring.replenishment import population_intervals, predict_replenishment, sku_intervals
from storeflow.scoring.send_time import local_hour_of_week, population_prior, preferred_send_times
from storeflow.scoring.summary import customer_summary
from storeflow.settings import Settings, get_settings
from storeflow.warehouse import schema
from storeflow.warehouse.upsert import upsert

if TYPE_CHECKING:  # imported where used: the boosted model is optional
    from storeflow.scoring.boosted import BoostedModel

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Order statuses that are not purchases (compared lower-case; Square and WooCommerce spellings).
EXCLUDED_STATUSES = ("cancelled", "canceled", "refunded", "failed", "trash", "checkout-draft", "draft")
#: Weights of send-time signals (orders are the strongest evidence of attention).
EVENT_WEIGHTS = {"order": 1.0, "click": 1.0, "open": 0.5}
MINOR_PER_MAJOR = 100  # settings.acquisition_cost is in major currency units
SCORING_TABLES = (schema.model_runs, schema.score_versions, schema.score_partitions,
                  schema.customer_scores, schema.replenishment_predictions)


@dataclass(frozen=True)
class ModelRun:
    """Small metadata about a fit (safe for XCom: :meth:`to_dict`)."""

    model_version: str
    as_of: datetime
    method: str
    gate_reason: str
    n_customers: int
    n_purchasers: int
    metrics: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        d = asdict(self)
        d["as_of"] = self.as_of.isoformat()
        return d


# --- reading the warehouse ----------------------------------------------------------------------
def _require_aware(as_of: datetime) -> datetime:
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    return as_of.astimezone(UTC)


def _tuples(result: Iterable[Iterable[Any]]) -> list[tuple[Any, ...]]:
    """Rows as plain tuples (building a DataFrame from SQLAlchemy Row objects is many times slower)."""
    return [tuple(r) for r in result]


def _counted_orders(as_of: datetime) -> tuple[ColumnElement[bool], ...]:
    o = schema.orders
    return (o.c.customer_id.is_not(None), o.c.created_at <= as_of,
            func.lower(o.c.status).not_in(EXCLUDED_STATUSES))


def load_orders(conn: Connection, as_of: datetime) -> pd.DataFrame:
    """Counted orders (not cancelled/refunded/failed) of known customers up to ``as_of``."""
    o = schema.orders
    q = select(o.c.source_system, o.c.order_id, o.c.customer_id, o.c.channel, o.c.total_minor,
               o.c.created_at, o.c.acquisition_channel).where(*_counted_orders(as_of))
    rows = _tuples(conn.execute(q))
    df = pd.DataFrame(rows, columns=["source_system", "order_id", "customer_id", "channel", "total_minor",
                                     "created_at", "acquisition_channel"])
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    df["total_minor"] = pd.to_numeric(df["total_minor"]).fillna(0.0)
    return df


def load_lines(conn: Connection, as_of: datetime) -> pd.DataFrame:
    """Order lines of counted orders with the order's customer, time and the product's category."""
    o, ol, p = schema.orders, schema.order_lines, schema.products
    q = (select(o.c.customer_id, o.c.created_at, ol.c.sku, ol.c.quantity, ol.c.unit_price_minor,
                ol.c.total_minor, p.c.category)
         .select_from(ol.join(o, (o.c.source_system == ol.c.source_system) & (o.c.order_id == ol.c.order_id))
                      .outerjoin(p, p.c.sku == ol.c.sku))
         .where(*_counted_orders(as_of)))
    df = pd.DataFrame(_tuples(conn.execute(q)), columns=["customer_id", "created_at", "sku", "quantity",
                                                       "unit_price_minor", "total_minor", "category"])
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    df["quantity"] = pd.to_numeric(df["quantity"]).astype(float)
    value = pd.to_numeric(df["total_minor"])
    df["value"] = value.fillna(df["quantity"] * pd.to_numeric(df["unit_price_minor"])).astype(float)
    return df


def load_customers(conn: Connection) -> pd.DataFrame:
    """Golden customer records that are not erased."""
    c = schema.customers
    q = select(c.c.customer_id, c.c.email, c.c.phone, c.c.timezone, c.c.preferred_hour, c.c.preferred_weekday,
               c.c.preferred_channel, c.c.acquisition_channel).where(c.c.erased_at.is_(None))
    return pd.DataFrame(_tuples(conn.execute(q)), columns=["customer_id", "email", "phone", "timezone",
                                                         "preferred_hour", "preferred_weekday",
                                                         "preferred_channel", "acquisition_channel"])


def load_consents(conn: Connection) -> pd.DataFrame:
    """All consent rows (customer_id, channel, topic, status)."""
    c = schema.consents
    return pd.DataFrame(_tuples(conn.execute(select(c.c.customer_id, c.c.channel, c.c.topic, c.c.status))),
                        columns=["customer_id", "channel", "topic", "status"])


def load_engagement(conn: Connection, as_of: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Message engagement from the campaigns' outbox: ``(events[customer_id, at, weight],
    per_channel[customer_id, channel, sent, engaged])``.

    ``messages`` with a ``sent_at`` up to ``as_of`` count as sent; ``message_events`` ``opened`` /
    ``clicked`` (joined on ``message_key``) are send-time signals (weights :data:`EVENT_WEIGHTS`), and a
    click makes the message "engaged" for the channel choice (opens are unreliable: Apple MPP).
    Empty frames when the campaign tables are not there yet.
    """
    events_cols, chan_cols = ["customer_id", "at", "weight"], ["customer_id", "channel", "sent", "engaged"]
    empty = pd.DataFrame(columns=events_cols), pd.DataFrame(columns=chan_cols)
    m = schema.metadata.tables.get("messages")
    e = schema.metadata.tables.get("message_events")
    if m is None or e is None or not {"messages", "message_events"} <= set(inspect(conn).get_table_names()):
        return empty
    sent = pd.DataFrame(conn.execute(
        select(m.c.message_key, m.c.customer_id, m.c.channel)
        .where(m.c.sent_at.is_not(None), m.c.sent_at <= as_of)).tuples().all(),
        columns=["message_key", "customer_id", "channel"])
    if sent.empty:
        return empty
    ev = pd.DataFrame(conn.execute(
        select(m.c.customer_id, m.c.message_key, e.c.event, e.c.occurred_at)
        .select_from(e.join(m, m.c.message_key == e.c.message_key))
        .where(e.c.event.in_(("opened", "clicked")), e.c.occurred_at <= as_of)).tuples().all(),
        columns=["customer_id", "message_key", "event", "occurred_at"])
    weights = {"opened": EVENT_WEIGHTS["open"], "clicked": EVENT_WEIGHTS["click"]}
    events_df = pd.DataFrame({"customer_id": ev["customer_id"], "at": pd.to_datetime(ev["occurred_at"], utc=True),
                              "weight": ev["event"].map(weights).astype(float)})
    clicked = set(ev.loc[ev["event"] == "clicked", "message_key"])
    sent["engaged"] = sent["message_key"].isin(clicked).astype(int)
    per_channel = (sent.groupby(["customer_id", "channel"])
                   .agg(sent=("message_key", "size"), engaged=("engaged", "sum")).reset_index())
    return events_df, per_channel


def _signal_events(orders: pd.DataFrame, engagement_events: pd.DataFrame) -> pd.DataFrame:
    online = orders[orders["channel"] == "online"]
    ev = pd.DataFrame({"customer_id": online["customer_id"].to_numpy(), "at": online["created_at"].to_numpy(),
                       "weight": EVENT_WEIGHTS["order"]})
    if len(engagement_events):
        ev = pd.concat([ev, engagement_events[["customer_id", "at", "weight"]]], ignore_index=True)
    ev["at"] = pd.to_datetime(ev["at"], utc=True)
    return ev


def _population(conn: Connection, as_of: datetime) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    orders = load_orders(conn, as_of)
    customers = load_customers(conn)
    ids = pd.Index(customers["customer_id"]).union(pd.Index(orders["customer_id"].unique()))
    erased = _erased_ids(conn)
    ids = ids.difference(pd.Index(erased))
    orders = orders[orders["customer_id"].isin(ids)]
    return orders, customers, [str(i) for i in ids]


def _erased_ids(conn: Connection) -> list[str]:
    c = schema.customers
    return [r[0] for r in conn.execute(select(c.c.customer_id).where(c.c.erased_at.is_not(None)))]


# --- fit ---------------------------------------------------------------------------------------
def _clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def fit_models(engine: Engine, as_of: datetime, *, settings: Settings | None = None) -> ModelRun:
    """Fit (or, below the gate, prepare heuristics), backtest and store a ``model_runs`` row.

    The model version is the as-of stamp plus a digest of the fitted state, so a rerun on the same data
    returns the same version (idempotent).
    """
    settings = settings or get_settings()
    as_of = _require_aware(as_of)
    with engine.connect() as conn:
        orders, customers, ids = _population(conn, as_of)
        lines = load_lines(conn, as_of)
        engagement_events, _ = load_engagement(conn, as_of)
    summary = customer_summary(orders, as_of)
    history_days = float((as_of - summary["first_at"].min()).total_seconds() / 86400) if len(summary) else 0.0
    gate = decide(len(summary), history_days, settings.min_purchasers, settings.min_history_days)
    method, reason = gate.method, gate.reason
    params: dict[str, Any] = {"gate": asdict(gate), "horizon_days": settings.churn_horizon_days,
                              "clv_discount_rate": settings.clv_discount_rate}
    metrics: dict[str, Any] = {}
    # customers whose first purchase day is the as-of day (T = 0) carry no rate information: they are
    # scored, but not fitted on
    observed = summary[summary["T"] > 0]
    if method == METHOD_MODEL:
        x = observed["frequency"].to_numpy(dtype=float)
        try:
            bg = fit_bgnbd(x, observed["recency"].to_numpy(dtype=float), observed["T"].to_numpy(dtype=float),
                           penalizer=settings.btyd_penalizer)
            params["bgnbd"] = {**bg.params, "log_likelihood": bg.log_likelihood}
        except ConvergenceError as exc:
            method, reason = METHOD_HEURISTIC, f"BG/NBD did not converge: {exc}"
    if method == METHOD_MODEL:
        try:
            gg = fit_gamma_gamma(x, observed["monetary"].to_numpy(dtype=float), penalizer=settings.btyd_penalizer)
            params["gamma_gamma"] = {**gg.params, "log_likelihood": gg.log_likelihood}
        except (ConvergenceError, ValueError) as exc:
            params["gamma_gamma_error"] = str(exc)  # spend falls back to each customer's AOV
        holdout = int(min(settings.backtest_holdout_days, max(7, history_days // 3)))
        bt = run_backtest(orders, as_of, holdout, penalizer=settings.btyd_penalizer)
        metrics = {**bt.metrics, "reliability": bt.reliability}
        params["churn_calibration"] = bt.calibrator.to_dict()
    artifact: bytes | None = None
    if method == METHOD_MODEL:
        method, model_reason, artifact = _choose_model(orders, lines, as_of, settings, params, metrics)
        params["model_reason"] = model_reason[:255]
    params["pop_gap_days"] = population_gap_days(summary) if len(summary) else 365.0
    if len(summary):
        params["rfm_thresholds"] = {
            "r": rfm.quintile_thresholds(np.floor(summary["recency_days"]), higher_is_better=False),
            "f": rfm.quintile_thresholds(summary["n_orders"]),
            "m": rfm.quintile_thresholds(summary["total_minor"]),
        }
    ev = _signal_events(orders, engagement_events)
    tz = ev["customer_id"].map(customers.set_index("customer_id")["timezone"]) if len(ev) else ev["customer_id"]
    how = local_hour_of_week(ev["at"], tz, settings.default_timezone) if len(ev) else np.empty(0, dtype=int)
    params["send_time_prior"] = population_prior(how, ev["weight"].to_numpy(dtype=float)).tolist()
    _, gaps = sku_intervals(lines[lines["customer_id"].notna()]) if len(lines) else (None, pd.DataFrame())
    pop = population_intervals(gaps) if len(gaps) else pd.DataFrame(columns=["sku"])
    params["sku_population"] = pop.to_dict(orient="records")
    params = _clean(params)
    metrics = _clean(metrics)
    digest = hashlib.sha256(json.dumps([params, len(ids)], sort_keys=True, default=str).encode()).hexdigest()
    version = f"{as_of:%Y%m%dT%H%M%SZ}-{digest[:10]}"
    now = datetime.now(UTC)
    with engine.begin() as conn:
        upsert(conn, schema.model_runs, [{
            "model_version": version, "as_of": as_of, "method": method, "gate_reason": reason,
            "params": params, "metrics": metrics, "n_customers": len(ids), "status": "fitted",
            "created_at": now, "published_at": None, "artifact": artifact,
        }], update=["method", "gate_reason", "params", "metrics", "n_customers", "artifact"])
    log.info("scoring model %s: method=%s (%s), %d customers", version, method, reason, len(ids))
    return ModelRun(version, as_of, method, reason, len(ids), len(summary), metrics)


def _choose_model(orders: pd.DataFrame, lines: pd.DataFrame, as_of: datetime, settings: Settings,
                  params: dict[str, Any], metrics: dict[str, Any]) -> tuple[str, str, bytes | None]:
    """Backtest BG/NBD, the boosted model and the recency rule side by side (``metrics["comparison"]``);
    train the boosted model on the latest origins when it won. Returns ``(method, reason, artifact)``."""
    if not settings.boosted_enabled:
        return METHOD_MODEL, "BG/NBD (boosted model disabled in settings)", None
    from storeflow.scoring.boosted import fit_boosted, training_frame
    from storeflow.scoring.compare import MODEL_BOOSTED, compare_models

    horizon = int(settings.churn_horizon_days)
    try:
        comp = compare_models(orders, lines, as_of, horizon, penalizer=settings.btyd_penalizer)
    except (ImportError, ValueError, ConvergenceError) as exc:  # e.g. scikit-learn missing, odd data
        return METHOD_MODEL, f"BG/NBD (model comparison failed: {exc})", None
    metrics["comparison"] = comp.to_dict()
    n = int(comp.info.get("customers", 0))
    if comp.winner != MODEL_BOOSTED:
        return METHOD_MODEL, f"BG/NBD: {comp.reason}", None
    if n < settings.boosted_min_customers:
        return METHOD_MODEL, (f"BG/NBD: backtest of {n} customers < {settings.boosted_min_customers} is too "
                              f"small to trust ({comp.reason})"), None
    train = training_frame(orders, lines, as_of, horizon, penalizer=settings.btyd_penalizer)
    try:
        model = fit_boosted(train, horizon)
    except ValueError as exc:
        return METHOD_MODEL, f"BG/NBD (boosted model could not be trained: {exc})", None
    blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    params["boosted"] = {"sha256": hashlib.sha256(blob).hexdigest(), "horizon_days": horizon, **model.info}
    return METHOD_BOOSTED, comp.reason, blob


def _load_boosted(run: dict[str, Any]) -> BoostedModel | None:
    """The run's boosted model, after checking its digest (None when the run has none)."""
    blob, meta = run.get("artifact"), (run.get("params") or {}).get("boosted")
    if not blob or not meta:
        return None
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise RuntimeError(f"model artifact of {run['model_version']} does not match its digest")
    return pickle.loads(blob)  # noqa: S301 - our own artifact, digest checked against model_runs.params


def _model_run(conn: Connection, model_version: str) -> dict[str, Any]:
    row = conn.execute(select(schema.model_runs).where(schema.model_runs.c.model_version == model_version)
                       ).mappings().first()
    if row is None:
        raise LookupError(f"no model run {model_version!r}")
    return dict(row)


# --- score -------------------------------------------------------------------------------------
def _apply_boosted(run: dict[str, Any], buyers: pd.DataFrame, orders: pd.DataFrame, lines: pd.DataFrame,
                   as_of: datetime, pred: pd.DataFrame) -> None:
    """Overwrite BG/NBD's horizon predictions with the boosted model's where it applies (in place).

    The boosted model predicts the churn horizon: churn = 1 - P(buy in the horizon), expected orders in the
    horizon; the 30/365-day orders and the CLV are BG/NBD's scaled by the same correction (boosted /
    BG/NBD expected orders in the horizon, clipped to [0.1, 10]). Customers whose first order is on the
    as-of day (T = 0) were never in the training data and keep BG/NBD.
    """
    from storeflow.scoring.features import customer_features

    model = _load_boosted(run)
    if model is None or not len(buyers):
        return
    feats = customer_features(orders, as_of, model.horizon_days, lines=lines)
    feats = feats.reindex(buyers["customer_id"].to_numpy())
    ok = (feats["T"] > 0).to_numpy()
    if not ok.any():
        return
    out = model.predict(feats[ok])
    rows = np.flatnonzero(ok)
    horizon_col = f"expected_orders_{model.horizon_days}"
    base = pred[horizon_col].to_numpy()[rows] if horizon_col in pred else \
        pred["expected_orders_90"].to_numpy()[rows] * model.horizon_days / 90.0
    expected = out["expected"].to_numpy()
    ratio = np.clip(np.where(base > 1e-9, expected / np.maximum(base, 1e-9), 1.0), 0.1, 10.0)
    idx = pred.index[rows]
    for col in ("expected_orders_30", "expected_orders_90", "expected_orders_365", "clv_365"):
        pred.loc[idx, col] = pred.loc[idx, col].to_numpy() * ratio
    if horizon_col in pred:
        pred.loc[idx, horizon_col] = expected
    pred.loc[idx, "churn_probability"] = 1.0 - out["p_buy"].to_numpy()
    pred.loc[idx, "method"] = METHOD_BOOSTED
    pred.loc[idx, "method_reason"] = str(run.get("params", {}).get("model_reason") or "boosted")[:255]
    pred.loc[pred.index[~ok], "method_reason"] = "BG/NBD: first order on the as-of day (not in the boosted " \
        "model's training data)"


def _int_or_none(v: float | None) -> int | None:
    return None if v is None or (isinstance(v, float) and not np.isfinite(v)) or pd.isna(v) else int(round(v))


def _float_or_none(v: float | None) -> float | None:
    return None if v is None or pd.isna(v) or not np.isfinite(float(v)) else float(v)


def score_customers_frame(run: dict[str, Any], orders: pd.DataFrame, lines: pd.DataFrame, customers: pd.DataFrame,
                          consents: pd.DataFrame, engagement: tuple[pd.DataFrame, pd.DataFrame],
                          ids: list[str], settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All per-customer outputs for ``ids`` (a partition) as ``(scores, replenishment)`` frames."""
    as_of = run["as_of"]
    params = run["params"]
    method = run["method"]
    horizon = float(params.get("horizon_days", settings.churn_horizon_days))
    rate = float(params.get("clv_discount_rate", settings.clv_discount_rate))
    idx = pd.Index(ids, name="customer_id")
    orders = orders[orders["customer_id"].isin(idx)]
    lines = lines[lines["customer_id"].isin(idx)]
    summary = customer_summary(orders, as_of).set_index("customer_id")
    summary = summary.reindex(idx.intersection(summary.index))
    buyers = summary.reset_index()
    reason = run.get("gate_reason") or ""
    if method in (METHOD_MODEL, METHOD_BOOSTED) and len(buyers):
        bg = BGNBDModel.from_params(params["bgnbd"])
        gg = GammaGammaModel.from_params(params["gamma_gamma"]) if "gamma_gamma" in params else None
        pred = model_predictions(buyers, bg, gg, IsotonicCalibrator.from_dict(params.get("churn_calibration")),
                                 annual_rate=rate, horizon_days=horizon)
        pred["method"] = METHOD_MODEL
        pred["method_reason"] = params.get("model_reason") or "BG/NBD"
        if method == METHOD_BOOSTED:
            _apply_boosted(run, buyers, orders, lines, as_of, pred)
    else:
        pred = heuristic_predictions(buyers, pop_gap_days=float(params.get("pop_gap_days", 365.0)),
                                     annual_rate=rate, horizon_days=horizon)
    th = params.get("rfm_thresholds")
    if len(buyers) and th:
        buyers["r_score"] = rfm.score_with_thresholds(np.floor(buyers["recency_days"]), th["r"], False)
        buyers["f_score"] = rfm.score_with_thresholds(buyers["n_orders"], th["f"])
        buyers["m_score"] = rfm.score_with_thresholds(buyers["total_minor"], th["m"])
        buyers["rfm_segment"] = rfm.segment(buyers["r_score"], buyers["f_score"])
    if "method" not in pred:
        pred["method"] = METHOD_HEURISTIC
        pred["method_reason"] = f"below the data gate: {reason}" if reason else "heuristic"
    scores = pd.concat([buyers.reset_index(drop=True), pred.reset_index(drop=True)], axis=1)
    scores = pd.DataFrame({"customer_id": idx}).merge(scores, on="customer_id", how="left")

    cust = customers.set_index("customer_id").reindex(idx).reset_index()
    first_acq = (orders.sort_values("created_at").dropna(subset=["acquisition_channel"])
                 .groupby("customer_id")["acquisition_channel"].first())
    acq = cust["acquisition_channel"].fillna(cust["customer_id"].map(first_acq))
    cost = acq.map(lambda ch: settings.acquisition_cost.get(ch, 0.0) if isinstance(ch, str) else 0.0)
    scores["acquisition_channel"] = acq.to_numpy()
    scores["acquisition_cost_minor"] = (cost * MINOR_PER_MAJOR).to_numpy()
    scores["clv_net_minor"] = scores["clv_365"] - scores["acquisition_cost_minor"]
    scores["next_order_date"] = [
        (as_of + timedelta(days=float(d))).date() if pd.notna(d) and np.isfinite(d) else None
        for d in scores["days_to_next_order"]]

    events, per_channel = engagement
    sig = _signal_events(orders, events[events["customer_id"].isin(idx)] if len(events) else events)
    send = preferred_send_times(cust, sig, as_of.date(), prior=np.asarray(params["send_time_prior"]),
                                prior_strength=settings.send_time_prior_strength,
                                exploration=settings.send_time_exploration, window=settings.quiet_hours_email,
                                default_tz=settings.default_timezone)
    chan = preferred_channels(cust, consents[consents["customer_id"].isin(idx)], per_channel,
                              settings.channel_cost)
    aff = category_affinity(lines, as_of, settings.affinity_half_life_days)
    scores = (scores.merge(send, on="customer_id", how="left").merge(chan, on="customer_id", how="left")
              .merge(aff, on="customer_id", how="left"))
    pop = pd.DataFrame(params.get("sku_population") or [], columns=["sku", "pop_days_per_unit", "pop_n", "pop_cv"])
    repl = predict_replenishment(lines, as_of, population=pop,
                                 min_population_intervals=settings.replenishment_min_population_intervals,
                                 max_overdue_days=settings.replenishment_max_overdue_days)
    return scores, repl


def _score_rows(scores: pd.DataFrame, run: dict[str, Any], partition: int, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for rec in scores.to_dict(orient="records"):
        has_orders = pd.notna(rec.get("n_orders"))
        rows.append({
            "as_of": run["as_of"], "model_version": run["model_version"], "customer_id": rec["customer_id"],
            # customers without orders get no model prediction, only channel/send-time heuristics
            "method": rec["method"] if has_orders else METHOD_HEURISTIC,
            "method_reason": (str(rec.get("method_reason"))[:255] if has_orders
                              else "no orders: channel and send-time heuristics only"),
            "partition": partition,
            "first_order_at": rec["first_at"].to_pydatetime() if has_orders else None,
            "last_order_at": rec["last_at"].to_pydatetime() if has_orders else None,
            "n_orders": int(rec["n_orders"]) if has_orders else 0,
            "frequency": _int_or_none(rec.get("frequency")),
            "recency_days": _int_or_none(np.floor(rec["recency_days"])) if has_orders else None,
            "t_days": _int_or_none(rec.get("T")),
            "monetary_minor": _int_or_none(rec.get("total_minor")),
            "r_score": _int_or_none(rec.get("r_score")),
            "f_score": _int_or_none(rec.get("f_score")),
            "m_score": _int_or_none(rec.get("m_score")),
            "rfm_segment": rec.get("rfm_segment") if isinstance(rec.get("rfm_segment"), str) else None,
            "p_alive": _float_or_none(rec.get("p_alive")),
            "expected_orders_30": _float_or_none(rec.get("expected_orders_30")),
            "expected_orders_90": _float_or_none(rec.get("expected_orders_90")),
            "expected_orders_365": _float_or_none(rec.get("expected_orders_365")),
            "expected_spend_minor": _int_or_none(rec.get("expected_spend")),
            "clv_365_minor": _int_or_none(rec.get("clv_365")),
            "historic_clv_minor": _int_or_none(rec.get("total_minor")) if has_orders else 0,
            "acquisition_channel": rec.get("acquisition_channel") if isinstance(rec.get("acquisition_channel"),
                                                                                str) else None,
            "acquisition_cost_minor": _int_or_none(rec.get("acquisition_cost_minor")),
            "clv_net_minor": _int_or_none(rec.get("clv_net_minor")),
            "avg_days_between_orders": _float_or_none(rec.get("avg_days_between_orders")),
            "aov_minor": _int_or_none(rec.get("aov_minor")),
            "churn_probability": _float_or_none(rec.get("churn_probability")),
            "churn_raw": _float_or_none(rec.get("churn_raw")),
            "next_order_date": rec.get("next_order_date"),
            "preferred_hour": _int_or_none(rec.get("preferred_hour")),
            "preferred_weekday": _int_or_none(rec.get("preferred_weekday")),
            "send_hour": _int_or_none(rec.get("send_hour")),
            "send_time_source": rec.get("send_time_source"),
            "send_time_explore": bool(rec.get("send_time_explore")),
            "preferred_channel": rec.get("preferred_channel") if isinstance(rec.get("preferred_channel"), str)
            else None,
            "channel_reason": rec.get("channel_reason"),
            "top_category": rec.get("top_category") if isinstance(rec.get("top_category"), str) else None,
            "category_affinity": rec.get("category_affinity") if isinstance(rec.get("category_affinity"), dict)
            else None,
            "created_at": now,
        })
    return rows


def score_partition(engine: Engine, model_version: str, as_of: datetime, partition: int, n_partitions: int,
                    *, settings: Settings | None = None) -> int:
    """Score the customers with ``stable_hash(customer_id) % n_partitions == partition`` under
    ``model_version`` (staging until published). Idempotent; returns the number of score rows."""
    if not 0 <= partition < n_partitions:
        raise ValueError(f"partition {partition} outside 0..{n_partitions - 1}")
    settings = settings or get_settings()
    as_of = _require_aware(as_of)
    with engine.connect() as conn:
        run = _model_run(conn, model_version)
        if run["as_of"] != as_of:
            raise ValueError(f"model {model_version} is for as_of {run['as_of']}, not {as_of}")
        orders, customers, ids = _population(conn, as_of)
        ids = [i for i in ids if partition_of(i, n_partitions) == partition]
        lines = load_lines(conn, as_of)
        consents = load_consents(conn)
        engagement = load_engagement(conn, as_of)
    scores, repl = score_customers_frame(run, orders, lines, customers, consents, engagement, ids, settings)
    now = datetime.now(UTC)
    rows = _score_rows(scores, run, partition, now)
    repl_rows = [{
        "as_of": as_of, "model_version": model_version, "customer_id": r["customer_id"], "sku": r["sku"],
        "last_purchase_at": r["last_purchase_at"].to_pydatetime(), "last_quantity": float(r["last_quantity"]),
        "days_per_unit": float(r["days_per_unit"]), "predicted_runout_date": r["predicted_runout_date"],
        "confidence": float(r["confidence"]), "basis": r["basis"], "n_intervals": int(r["n_intervals"]),
    } for r in repl.to_dict(orient="records")]
    cs, rp = schema.customer_scores, schema.replenishment_predictions
    with engine.begin() as conn:
        # a rerun replaces this partition's rows (customers may have been erased since)
        part_ids = select(cs.c.customer_id).where(cs.c.model_version == model_version,
                                                  cs.c.partition == partition)
        conn.execute(delete(rp).where(rp.c.model_version == model_version, rp.c.customer_id.in_(part_ids)))
        conn.execute(delete(cs).where(cs.c.model_version == model_version, cs.c.partition == partition))
        upsert(conn, cs, rows)
        upsert(conn, rp, repl_rows)
        upsert(conn, schema.score_partitions, [{
            "model_version": model_version, "n_partitions": n_partitions, "partition": partition,
            "customers": len(rows), "replenishment_rows": len(repl_rows), "finished_at": now}])
    log.info("scored partition %d/%d of %s: %d customers, %d replenishment rows", partition, n_partitions,
             model_version, len(rows), len(repl_rows))
    return len(rows)


# --- publish -----------------------------------------------------------------------------------
def publish_scores(engine: Engine, model_version: str, as_of: datetime, *, settings: Settings | None = None
                   ) -> dict[str, Any]:
    """Make ``model_version`` the current scores in one transaction, after checking that every partition
    of one partitioning was scored; then prune versions beyond ``settings.scores_keep_versions``."""
    settings = settings or get_settings()
    as_of = _require_aware(as_of)
    sp, sv, cs, rp = schema.score_partitions, schema.score_versions, schema.customer_scores, \
        schema.replenishment_predictions
    now = datetime.now(UTC)
    with engine.begin() as conn:
        run = _model_run(conn, model_version)
        if run["as_of"] != as_of:
            raise ValueError(f"model {model_version} is for as_of {run['as_of']}, not {as_of}")
        parts = conn.execute(select(sp.c.n_partitions, sp.c.partition).where(sp.c.model_version == model_version)
                             ).all()
        complete = [n for n in {p[0] for p in parts} if {p[1] for p in parts if p[0] == n} == set(range(n))]
        if not complete:
            raise RuntimeError(f"scores of {model_version} are incomplete: partitions {sorted(parts)}")
        n_rows = conn.execute(select(func.count()).select_from(cs).where(cs.c.model_version == model_version)
                              ).scalar_one()
        n_repl = conn.execute(select(func.count()).select_from(rp).where(rp.c.model_version == model_version)
                              ).scalar_one()
        segments: dict[str | None, int] = dict(conn.execute(select(cs.c.rfm_segment, func.count()).where(
            cs.c.model_version == model_version).group_by(cs.c.rfm_segment)).all())
        methods: dict[str, int] = dict(conn.execute(select(cs.c.method, func.count()).where(
            cs.c.model_version == model_version).group_by(cs.c.method)).all())
        conn.execute(update(sv).where(sv.c.is_current.is_(True), sv.c.model_version != model_version)
                     .values(is_current=False))
        upsert(conn, sv, [{"model_version": model_version, "as_of": as_of, "is_current": True,
                           "customers": n_rows, "replenishment_rows": n_repl, "published_at": now}])
        conn.execute(update(schema.model_runs).where(schema.model_runs.c.model_version == model_version)
                     .values(status="published", published_at=now))
    pruned = _prune(engine, settings.scores_keep_versions)
    result = {"model_version": model_version, "as_of": as_of.isoformat(), "customers": int(n_rows),
              "replenishment_rows": int(n_repl), "method": run["method"],
              "methods": {str(k): int(v) for k, v in methods.items()},
              "segments": {str(k): int(v) for k, v in segments.items()}, "pruned_versions": pruned}
    log.info("published scores %s: %d customers", model_version, n_rows)
    return result


def _prune(engine: Engine, keep: int) -> list[str]:
    sv, cs, rp, sp = schema.score_versions, schema.customer_scores, schema.replenishment_predictions, \
        schema.score_partitions
    with engine.begin() as conn:
        versions = [r[0] for r in conn.execute(select(sv.c.model_version).where(sv.c.is_current.is_(False))
                                               .order_by(sv.c.published_at.desc()))]
        old = versions[max(keep - 1, 0):]
        for v in old:
            for t in (cs, rp, sp):
                conn.execute(delete(t).where(t.c.model_version == v))
            conn.execute(delete(sv).where(sv.c.model_version == v))
    return old


# --- read --------------------------------------------------------------------------------------
def _read(conn: Connection | Engine, query: Callable[[Connection], T]) -> T:
    """``query(connection)`` on ``conn``, or on a connection opened from it when it is an engine."""
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return query(c)
    return query(conn)


def _current_rows(conn: Connection, table: Table, *order: Any) -> pd.DataFrame:
    """The rows of ``table`` under the published model version (empty frame with the columns before that)."""
    sv = schema.score_versions
    q = (select(table).join(sv, sv.c.model_version == table.c.model_version).where(sv.c.is_current.is_(True))
         .order_by(*order))
    return pd.DataFrame(_tuples(conn.execute(q)), columns=[c.name for c in table.c])


def current_model_version(conn: Connection | Engine) -> str | None:
    """The published model version readers see (None before the first publish)."""
    sv = schema.score_versions
    return _read(conn, lambda c: c.execute(select(sv.c.model_version).where(sv.c.is_current.is_(True)))
                 .scalar_one_or_none())


def current_scores(conn: Connection | Engine) -> pd.DataFrame:
    """The current published ``customer_scores`` rows (empty frame with the columns before any publish)."""
    cs = schema.customer_scores
    return _read(conn, lambda c: _current_rows(c, cs, cs.c.customer_id))


def current_replenishment(conn: Connection | Engine) -> pd.DataFrame:
    """The current published ``replenishment_predictions`` rows."""
    rp = schema.replenishment_predictions
    return _read(conn, lambda c: _current_rows(c, rp, rp.c.customer_id, rp.c.sku))


def run_scoring(engine: Engine, as_of: datetime, *, n_partitions: int = 1, landing: ObjectStore | None = None,
                settings: Settings | None = None) -> dict[str, Any]:
    """Fit, score every partition, publish and (with ``landing``) write the report, in one call (demo,
    notebooks; the DAG runs the steps as separate tasks). Returns the publish result plus the model run."""
    run = fit_models(engine, as_of, settings=settings)
    for part in range(n_partitions):
        score_partition(engine, run.model_version, as_of, part, n_partitions, settings=settings)
    result = publish_scores(engine, run.model_version, as_of, settings=settings)
    result["model_run"] = run.to_dict()
    if landing is not None:
        result["report"] = write_report(engine, run.model_version, landing)
    return result


def forget_customer(conn: Connection, customer_id: str) -> int:
    """Delete a customer's score and replenishment rows in every version (erasure); returns rows deleted."""
    cs, rp = schema.customer_scores, schema.replenishment_predictions
    n = conn.execute(delete(rp).where(rp.c.customer_id == customer_id)).rowcount or 0
    return n + (conn.execute(delete(cs).where(cs.c.customer_id == customer_id)).rowcount or 0)


# --- report ------------------------------------------------------------------------------------
def write_report(engine: Engine, model_version: str, landing: ObjectStore) -> str:
    """Render the HTML scoring report of ``model_version`` into the landing zone; return its URI."""
    from storeflow.scoring.report import render_report

    cs = schema.customer_scores
    with engine.connect() as conn:
        run = _model_run(conn, model_version)
        scores = pd.DataFrame(conn.execute(
            select(cs.c.customer_id, cs.c.method, cs.c.method_reason, cs.c.rfm_segment, cs.c.clv_365_minor,
                   cs.c.p_alive, cs.c.recency_days, cs.c.n_orders, cs.c.churn_probability,
                   cs.c.expected_orders_90)
            .where(cs.c.model_version == model_version)).tuples().all(),
            columns=["customer_id", "method", "method_reason", "rfm_segment", "clv_365_minor", "p_alive",
                     "recency_days", "n_orders", "churn_probability", "expected_orders_90"])
    html = render_report(run, scores)
    uri = landing.put_bytes(f"reports/scoring/{model_version}/index.html", html.encode(), "text/html")
    log.info("scoring report: %s", uri)
    return uri
