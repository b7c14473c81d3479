"""Uplift measurement: treatment (messaged) vs campaign holdout, orders within the attribution window.

Treatment members are customers with a ``sent`` message of the campaign (reference time = ``sent_at``);
holdout members are customers excluded with reason ``campaign_holdout`` (reference time = the run's
``as_of``). A member converts when an order (any channel) is created in ``(reference, reference +
settings.attribution_days]``; revenue is the sum of those orders. Per campaign: conversion rates,
revenue per member, incremental revenue ``(rpm_t - rpm_h) * n_t`` and a two-proportion z-test (pooled,
two-sided, :mod:`scipy.stats`). Results go to ``campaign_uplift`` and a nightly HTML report with a plot is
written through ``landing.put_bytes``.
"""

from __future__ import annotations

import base64
import io
import math
from datetime import datetime, timedelta
from html import escape
from typing import Any

import pandas as pd
from scipy import stats as sps
from sqlalchemy import Engine, select

from storeflow.landing import ObjectStore
from storeflow.settings import get_settings
from storeflow.warehouse.schema import campaign_exclusions, campaign_runs, campaign_uplift, messages, orders


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> tuple[float | None, float | None]:
    """Pooled two-proportion z statistic and two-sided p-value (None when undefined)."""
    if n1 == 0 or n2 == 0:
        return None, None
    p = (x1 + x2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return None, None
    z = (x1 / n1 - x2 / n2) / se
    return z, float(2 * sps.norm.sf(abs(z)))


def _conversions(members: pd.DataFrame, order_frame: pd.DataFrame, days: int, as_of: datetime) -> pd.DataFrame:
    """members: customer_id, ref_at (first per customer) → adds converted, revenue_minor."""
    if members.empty:
        return members.assign(converted=pd.Series(dtype=bool), revenue_minor=pd.Series(dtype="int64"))
    m = members.sort_values("ref_at").drop_duplicates("customer_id").copy()
    m["ref_at"] = pd.to_datetime(m["ref_at"], utc=True)
    if order_frame.empty:
        m["converted"] = False
        m["revenue_minor"] = 0
        return m
    j = m.merge(order_frame, on="customer_id", how="left")
    end = (j["ref_at"] + pd.Timedelta(days=days)).clip(upper=pd.Timestamp(as_of))
    hit = (j["created_at"] > j["ref_at"]) & (j["created_at"] <= end)
    j["rev"] = j["total_minor"].where(hit, 0).fillna(0)
    j["hit"] = hit
    agg = j.groupby("customer_id").agg(converted=("hit", "any"), revenue_minor=("rev", "sum"))
    m = m.merge(agg, left_on="customer_id", right_index=True, how="left")
    m["converted"] = m["converted"].fillna(False).astype(bool)
    m["revenue_minor"] = m["revenue_minor"].fillna(0).astype("int64")
    return m


def measure_campaigns(engine: Engine, as_of: datetime, landing: ObjectStore | None) -> dict[str, Any]:
    """Compute uplift per campaign, store it in ``campaign_uplift`` and write the HTML report."""
    settings = get_settings()
    days = settings.attribution_days
    with engine.connect() as conn:
        sent = pd.DataFrame(conn.execute(
            select(messages.c.campaign_id, messages.c.customer_id, messages.c.sent_at.label("ref_at"))
            .where(messages.c.state == "sent", messages.c.sent_at <= as_of)).all(),
            columns=["campaign_id", "customer_id", "ref_at"])
        held = pd.DataFrame(conn.execute(
            select(campaign_exclusions.c.campaign_id, campaign_exclusions.c.customer_id,
                   campaign_runs.c.as_of.label("ref_at"))
            .join(campaign_runs, (campaign_runs.c.run_id == campaign_exclusions.c.run_id)
                  & (campaign_runs.c.campaign_id == campaign_exclusions.c.campaign_id))
            .where(campaign_exclusions.c.reason == "campaign_holdout", campaign_runs.c.as_of <= as_of)).all(),
            columns=["campaign_id", "customer_id", "ref_at"])
        first = min([t for t in (sent["ref_at"].min() if len(sent) else None,
                                 held["ref_at"].min() if len(held) else None) if t is not None], default=as_of)
        order_frame = pd.DataFrame(conn.execute(
            select(orders.c.customer_id, orders.c.created_at, orders.c.total_minor)
            .where(orders.c.customer_id.is_not(None), orders.c.created_at > first,
                   orders.c.created_at <= as_of + timedelta(seconds=1))).all(),
            columns=["customer_id", "created_at", "total_minor"])
    if len(order_frame):
        order_frame["created_at"] = pd.to_datetime(order_frame["created_at"], utc=True)
    results: dict[str, dict[str, Any]] = {}
    for cid in sorted(set(sent["campaign_id"]) | set(held["campaign_id"])):
        t = _conversions(sent[sent["campaign_id"] == cid][["customer_id", "ref_at"]], order_frame, days, as_of)
        h = _conversions(held[held["campaign_id"] == cid][["customer_id", "ref_at"]], order_frame, days, as_of)
        nt, nh = len(t), len(h)
        xt, xh = int(t["converted"].sum()) if nt else 0, int(h["converted"].sum()) if nh else 0
        rt, rh = int(t["revenue_minor"].sum()) if nt else 0, int(h["revenue_minor"].sum()) if nh else 0
        rpm_t = rt / nt if nt else 0.0
        rpm_h = rh / nh if nh else None
        z, p = two_proportion_z(xt, nt, xh, nh)
        results[cid] = {
            "treatment_n": nt, "treatment_conversions": xt, "treatment_revenue_minor": rt,
            "treatment_rate": xt / nt if nt else None, "revenue_per_member_treatment": rpm_t,
            "holdout_n": nh, "holdout_conversions": xh, "holdout_revenue_minor": rh,
            "holdout_rate": xh / nh if nh else None, "revenue_per_member_holdout": rpm_h,
            "incremental_revenue_minor": int(round((rpm_t - rpm_h) * nt)) if rpm_h is not None else None,
            "z": z, "p_value": p,
        }
    from storeflow.warehouse.upsert import upsert

    if results:
        with engine.begin() as conn:
            upsert(conn, campaign_uplift, [
                {"as_of": as_of, "campaign_id": cid, **{k: r[k] for k in (
                    "treatment_n", "treatment_conversions", "treatment_revenue_minor", "holdout_n",
                    "holdout_conversions", "holdout_revenue_minor", "incremental_revenue_minor", "z", "p_value")}}
                for cid, r in results.items()])
    report_uri = None
    if landing is not None:
        html = render_report(results, as_of, days, settings.currency)
        report_uri = landing.put_bytes(f"reports/campaigns/{as_of:%Y-%m-%d}/index.html", html.encode(),
                                       "text/html; charset=utf-8")
    return {"as_of": as_of.isoformat(), "attribution_days": days, "campaigns": results, "report": report_uri}


def _plot_png(results: dict[str, dict[str, Any]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(names) + 2), 3.5), dpi=100)
    xs = range(len(names))
    t = [100 * (results[n]["treatment_rate"] or 0) for n in names]
    h = [100 * (results[n]["holdout_rate"] or 0) for n in names]
    ax.bar([x - 0.2 for x in xs], t, width=0.4, label="treatment")
    ax.bar([x + 0.2 for x in xs], h, width=0.4, label="holdout")
    ax.set_xticks(list(xs), names, rotation=20, ha="right")
    ax.set_ylabel("conversion %")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def render_report(results: dict[str, dict[str, Any]], as_of: datetime, days: int, currency: str) -> str:
    """Self-contained HTML (the plot is an inline PNG)."""
    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.2f} %"

    def money(v: float | None) -> str:
        return "–" if v is None else f"{v / 100:,.2f} {escape(currency)}"

    def pval(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    rows = "".join(
        f"<tr><td>{escape(cid)}</td><td>{r['treatment_n']}</td><td>{pct(r['treatment_rate'])}</td>"
        f"<td>{r['holdout_n']}</td><td>{pct(r['holdout_rate'])}</td>"
        f"<td>{money(r['revenue_per_member_treatment'])}</td><td>{money(r['revenue_per_member_holdout'])}</td>"
        f"<td>{money(r['incremental_revenue_minor'])}</td><td>{pval(r['p_value'])}</td></tr>"
        for cid, r in results.items())
    img = base64.b64encode(_plot_png(results)).decode() if results else ""
    plot = f'<img alt="conversion by campaign" src="data:image/png;base64,{img}">' if img else "<p>No data yet.</p>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Campaign uplift</title>"
        "<style>body{font-family:sans-serif}td,th{padding:4px 8px;border-bottom:1px solid #ddd}</style></head>"
        f"<body><h1>Campaign uplift — {as_of:%Y-%m-%d}</h1><p>Attribution window: {days} days after the "
        "message (holdout: after the planning run). Two-proportion z-test, two-sided.</p>"
        "<table><tr><th>campaign</th><th>treated</th><th>conv.</th><th>holdout</th><th>conv.</th>"
        "<th>rev./member</th><th>rev./member (holdout)</th><th>incremental revenue</th><th>p</th></tr>"
        f"{rows}</table>{plot}</body></html>"
    )
