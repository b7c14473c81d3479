"""``plan_campaigns``: load scores and history from the warehouse, run the policy, write the outbox.

Writes one ``campaign_runs`` row per campaign (counts, exclusions by reason, held by quiet hours and the
definition used — the dispatcher renders from it), the planned ``messages``, ``campaign_exclusions``
(run, campaign, customer, reason) and new ``holdout_assignments``. :func:`explain` answers "why did
customer X not get campaign Y?".
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Executable, func, inspect, select

from storeflow.campaigns.definitions import Campaign, PostPurchaseTrigger, load_campaigns
from storeflow.campaigns.outbox import insert_planned
from storeflow.campaigns.policy import SENT_LIKE_STATES, PlanInputs, PlanResult, history_window, plan
from storeflow.settings import get_settings
from storeflow.warehouse.schema import (
    campaign_exclusions,
    campaign_runs,
    consents,
    customers,
    holdout_assignments,
    messages,
    orders,
    products,
    stock_levels,
    suppressions,
)

CONTACT_COLUMNS = ["customer_id", "email", "phone", "given_name", "family_name", "timezone",
                   "preferred_channel", "preferred_hour", "preferred_weekday", "erased_at"]


@dataclass
class PlanSummary:
    """Per campaign: eligible, planned, excluded by reason, held by quiet hours; plus definition errors."""

    run_id: str
    as_of: datetime
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def planned(self) -> int:
        return sum(c["planned"] for c in self.campaigns.values())

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "as_of": self.as_of.isoformat(), "planned": self.planned,
                "campaigns": self.campaigns, "errors": self.errors}


#: scoring column → the name audience rules use (both stay available to rules)
SCORE_ALIASES = {"rfm_segment": "segment", "churn_probability": "churn_risk", "category_affinity": "affinity"}


def normalise_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Give scoring's published columns the names the campaign rules use.

    ``rfm_segment`` → ``segment``, ``churn_probability`` → ``churn_risk``, ``category_affinity`` →
    ``affinity``, ``clv_365_minor`` → ``clv_365`` (major units); ``send_hour`` (the send-time model's pick,
    exploration included) is used as ``preferred_hour`` when present. Existing columns are kept.
    """
    out = scores.copy()
    if "customer_id" not in out.columns:
        out = out.reset_index()
    for src, dst in SCORE_ALIASES.items():
        if src in out.columns and dst not in out.columns:
            out[dst] = out[src]
    if "clv_365_minor" in out.columns and "clv_365" not in out.columns:
        out["clv_365"] = pd.to_numeric(out["clv_365_minor"], errors="coerce") / 100.0
    if "send_hour" in out.columns:
        hour = pd.to_numeric(out["send_hour"], errors="coerce")
        if "preferred_hour" in out.columns:
            hour = hour.where(hour.notna(), pd.to_numeric(out["preferred_hour"], errors="coerce"))
        out["preferred_hour"] = hour
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def _frame(conn: Connection, stmt: Executable) -> pd.DataFrame:
    result = conn.execute(stmt)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def load_inputs(conn: Connection, campaigns: list[Campaign], as_of: datetime, scores: pd.DataFrame | None,
                events: list[dict[str, Any]] | None) -> PlanInputs:
    """Read everything the policy needs from the warehouse."""
    settings = get_settings()
    if scores is None:
        from storeflow.scoring.pipeline import current_scores  # written by the scoring package

        scores = current_scores(conn)
    scores = normalise_scores(scores)
    contacts = _frame(conn, select(*[customers.c[c] for c in CONTACT_COLUMNS]))
    contacts["customer_id"] = contacts["customer_id"].astype(str)
    extra = [c for c in contacts.columns if c == "customer_id" or c not in scores.columns]
    frame = scores.merge(contacts[extra], on="customer_id", how="outer") if len(contacts) else scores
    for col in ("timezone", "preferred_channel", "preferred_hour"):  # scores first, profile as fallback
        if col in scores.columns and col in contacts.columns and len(contacts):
            fallback = frame["customer_id"].map(contacts.set_index("customer_id")[col])
            frame[col] = frame[col].where(frame[col].notna(), fallback)
    if "erased_at" in frame.columns:
        frame = frame[frame["erased_at"].isna()].drop(columns=["erased_at"])
    window = history_window(campaigns, settings)
    history = _frame(conn, select(messages.c.customer_id, messages.c.campaign_id, messages.c.channel,
                                  messages.c.kind, messages.c.send_at, messages.c.state)
                     .where(messages.c.send_at > as_of - window, messages.c.state.in_(SENT_LIKE_STATES)))
    max_days = max([30] + [c.trigger.max_days for c in campaigns if isinstance(c.trigger, PostPurchaseTrigger)])
    recent = _frame(conn, select(orders.c.customer_id, orders.c.order_id, orders.c.created_at)
                    .where(orders.c.created_at > as_of - timedelta(days=max_days), orders.c.created_at <= as_of,
                           orders.c.customer_id.is_not(None)))
    last = _frame(conn, select(orders.c.customer_id, func.max(orders.c.created_at).label("last_order_at"))
                  .where(orders.c.customer_id.is_not(None), orders.c.created_at <= as_of)
                  .group_by(orders.c.customer_id))
    stock = _frame(conn, select(stock_levels.c.sku, func.sum(stock_levels.c.quantity).label("qty"))
                   .where(stock_levels.c.state == "IN_STOCK").group_by(stock_levels.c.sku))
    prods = _frame(conn, select(products.c.sku, products.c.name, products.c.category, products.c.price_minor,
                                products.c.currency, products.c.store_stock)
                   .where(products.c.is_deleted.is_not(True)))
    if not prods.empty:
        qty = prods["sku"].map(stock.set_index("sku")["qty"].astype(float)) if not stock.empty else None
        in_stock = prods["store_stock"].fillna(0).astype(float) > 0
        if qty is not None:
            in_stock |= qty.fillna(0) > 0
        prods["in_stock"] = in_stock
    else:
        prods = pd.DataFrame(columns=["sku", "name", "category", "price_minor", "currency", "in_stock"])
    replenishment = pd.DataFrame()
    if inspect(conn).has_table("replenishment_predictions"):
        current: Callable[[Connection], pd.DataFrame] | None
        try:
            from storeflow.scoring.pipeline import current_replenishment  # current model version only

            current = current_replenishment
        except ImportError:  # pragma: no cover - scoring package absent
            current = None
        if current is not None and inspect(conn).has_table("score_versions"):
            replenishment = current(conn)
        else:
            from sqlalchemy import MetaData, Table

            table = Table("replenishment_predictions", MetaData(), autoload_with=conn)
            replenishment = _frame(conn, select(table))
    return PlanInputs(
        customers=frame.reset_index(drop=True),
        consents=_frame(conn, select(consents.c.customer_id, consents.c.channel, consents.c.topic,
                                     consents.c.status)),
        suppressions=_frame(conn, select(suppressions.c.customer_id, suppressions.c.channel)),
        history=history, last_orders=last, recent_orders=recent, replenishment=replenishment,
        products=prods, events=list(events or []),
    )


def plan_campaigns(engine: Engine, as_of: datetime, campaigns_dir: Path, scores: pd.DataFrame | None = None,
                   events: list[dict[str, Any]] | None = None) -> PlanSummary:
    """Plan every valid campaign in ``campaigns_dir`` at ``as_of`` and write the outbox."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    settings = get_settings()
    started = datetime.now(UTC)
    run_id = f"plan-{as_of.astimezone(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
    campaigns, errors = load_campaigns(Path(campaigns_dir))
    summary = PlanSummary(run_id=run_id, as_of=as_of, errors=[str(e) for e in errors])
    with engine.connect() as conn:
        inputs = load_inputs(conn, campaigns, as_of, scores, events)
    result = plan(campaigns, inputs, as_of, settings)
    write_plan(engine, summary, campaigns, result, started)
    return summary


def write_plan(engine: Engine, summary: PlanSummary, campaigns: list[Campaign], result: PlanResult,
               started: datetime) -> None:
    """Persist a :class:`PlanResult`: messages, exclusions, holdouts and one campaign_runs row per campaign."""
    from storeflow.warehouse.upsert import upsert

    run_id, as_of = summary.run_id, summary.as_of
    with engine.begin() as conn:
        inserted = insert_planned(conn, result.messages, run_id, started)
        if not result.exclusions.empty:
            ex = result.exclusions.drop_duplicates(["campaign_id", "customer_id"])
            upsert(conn, campaign_exclusions,
                   [{"run_id": run_id, "campaign_id": c, "customer_id": u, "reason": r}
                    for c, u, r in zip(ex["campaign_id"], ex["customer_id"], ex["reason"], strict=True)],
                   update=[])
        if not result.holdouts.empty:
            h = result.holdouts
            upsert(conn, holdout_assignments,
                   [{"scope": sc, "customer_id": u, "bucket": float(b), "share": float(s), "run_id": run_id,
                     "assigned_at": as_of}
                    for sc, u, b, s in zip(h["scope"], h["customer_id"], h["bucket"], h["share"], strict=True)],
                   update=[])
        finished = datetime.now(UTC)
        rows = []
        for campaign in campaigns:
            if campaign.id in result.errors:
                rows.append({"run_id": run_id, "campaign_id": campaign.id, "as_of": as_of, "started_at": started,
                             "finished_at": finished, "eligible": 0, "planned": 0, "held_quiet_hours": 0,
                             "excluded": {}, "definition": campaign.model_dump(mode="json"),
                             "error": result.errors[campaign.id][:2000]})
                summary.errors.append(f"{campaign.id}: {result.errors[campaign.id]}")
                continue
            st = result.stats[campaign.id]
            st["excluded"] = {k: v for k, v in st["excluded"].items() if v}
            rows.append({"run_id": run_id, "campaign_id": campaign.id, "as_of": as_of, "started_at": started,
                         "finished_at": finished, "eligible": st["eligible"], "planned": st["planned"],
                         "held_quiet_hours": st["held_quiet_hours"], "excluded": st["excluded"],
                         "definition": campaign.model_dump(mode="json"), "error": None})
            summary.campaigns[campaign.id] = st
        if rows:
            upsert(conn, campaign_runs, rows)
    if inserted != len(result.messages):
        summary.errors.append(f"{len(result.messages) - inserted} planned messages already existed (same key)")


def explain(conn: Connection, customer_id: str, campaign_id: str) -> dict[str, Any]:
    """The latest decision for (customer, campaign): a message and its state, or the exclusion reason."""
    msg = conn.execute(select(messages.c.message_key, messages.c.state, messages.c.send_at, messages.c.error,
                              messages.c.run_id)
                       .where(messages.c.customer_id == customer_id, messages.c.campaign_id == campaign_id)
                       .order_by(messages.c.created_at.desc()).limit(1)).first()
    ex = conn.execute(select(campaign_exclusions.c.run_id, campaign_exclusions.c.reason, campaign_runs.c.as_of)
                      .join(campaign_runs, (campaign_runs.c.run_id == campaign_exclusions.c.run_id)
                            & (campaign_runs.c.campaign_id == campaign_exclusions.c.campaign_id))
                      .where(campaign_exclusions.c.customer_id == customer_id,
                             campaign_exclusions.c.campaign_id == campaign_id)
                      .order_by(campaign_runs.c.as_of.desc()).limit(1)).first()
    return {
        "message": dict(msg._mapping) if msg else None,
        "exclusion": dict(ex._mapping) if ex else None,
    }
