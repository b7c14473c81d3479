"""Audience candidates per trigger type, vectorised over the customer frame.

Every function returns a DataFrame with ``pos`` (row position in the customer frame), ``trigger_window``
(part of the message key: the same trigger never yields two messages) and ``payload`` (render context
for that trigger, a dict or None), one row per customer (the most relevant trigger wins).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from storeflow.campaigns.definitions import (
    Campaign,
    CatalogEventTrigger,
    PostPurchaseTrigger,
    ReplenishmentTrigger,
)

EMPTY = pd.DataFrame({"pos": pd.Series(dtype="int64"), "trigger_window": pd.Series(dtype=object),
                      "payload": pd.Series(dtype=object)})


def _frame(pos: npt.NDArray[np.intp], windows: Any, payloads: Any) -> pd.DataFrame:
    return pd.DataFrame({"pos": np.asarray(pos, dtype="int64"), "trigger_window": windows, "payload": payloads})


def affinity_for(customers: pd.DataFrame, category: str | None) -> npt.NDArray[np.float64]:
    """Per-customer affinity to ``category`` from an ``affinity`` dict column or ``affinity_<slug>``."""
    n = len(customers)
    if not category:
        return np.zeros(n)
    slug = "affinity_" + re.sub(r"[^a-z0-9]+", "_", category.lower()).strip("_")
    if slug in customers.columns:
        return pd.to_numeric(customers[slug], errors="coerce").fillna(0.0).to_numpy()
    if "affinity" not in customers.columns:
        return np.zeros(n)
    return customers["affinity"].map(
        lambda d: float(d.get(category, 0.0)) if isinstance(d, dict) else 0.0
    ).to_numpy(dtype="float64")


def top_category(value: Any) -> str | None:
    """Highest-weight category of an affinity dict."""
    if isinstance(value, dict) and value:
        return max(value.items(), key=lambda kv: kv[1])[0]
    return None


def segment_candidates(campaign: Campaign, customers: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    mask = campaign.rule.evaluate(customers)
    pos = np.flatnonzero(mask)
    return _frame(pos, f"day:{as_of.date().isoformat()}", None)


def replenishment_candidates(campaign: Campaign, trigger: ReplenishmentTrigger, customers: pd.DataFrame,
                             predictions: pd.DataFrame, products: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    if predictions is None or predictions.empty:
        return EMPTY.copy()
    pred = predictions.copy()
    pred["pos"] = pd.Index(customers["customer_id"]).get_indexer(pred["customer_id"])
    pred = pred[pred["pos"] >= 0]
    runout = pd.to_datetime(pred["predicted_runout_date"], utc=True, errors="coerce")
    today = pd.Timestamp(as_of.date(), tz="UTC")
    pred["runout_days"] = (runout - today) / pd.Timedelta(days=1)
    conf = pd.to_numeric(pred.get("confidence", pd.Series(1.0, index=pred.index)), errors="coerce").fillna(0.0)
    pred["replenishment_confidence"] = conf
    keep = (pred["runout_days"] >= -trigger.within_days) & (pred["runout_days"] <= trigger.within_days)
    keep &= conf >= trigger.min_confidence
    in_stock = (set(products.loc[products["in_stock"].fillna(False).astype(bool), "sku"]) if not products.empty
                else set())
    keep &= pred["sku"].isin(in_stock)
    pred = pred[keep]
    if pred.empty:
        return EMPTY.copy()
    pred = pred.sort_values(["pos", "runout_days"]).drop_duplicates("pos", keep="first")
    sub = customers.iloc[pred["pos"].to_numpy()].reset_index(drop=True)
    sub["runout_days"] = pred["runout_days"].to_numpy()
    sub["replenishment_confidence"] = pred["replenishment_confidence"].to_numpy()
    sub["sku"] = pred["sku"].to_numpy()
    pred = pred[campaign.rule.evaluate(sub)]
    info = products.set_index("sku") if not products.empty else pd.DataFrame()
    windows, payloads = [], []
    product_cache: dict[str, dict[str, Any]] = {}
    for sku, runout_date in zip(pred["sku"], pd.to_datetime(pred["predicted_runout_date"]).dt.date, strict=True):
        if sku not in product_cache:
            product_cache[sku] = _product(info, sku)
        day = runout_date.isoformat()
        windows.append(f"repl:{sku}:{day}")
        payloads.append({"product": product_cache[sku], "trigger": {"runout_date": day}})
    return _frame(pred["pos"].to_numpy(), windows, payloads)


def _product(info: pd.DataFrame, sku: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"sku": sku}
    if not info.empty and sku in info.index:
        row = info.loc[sku]
        for key in ("name", "category", "price_minor", "currency"):
            if key in row.index and pd.notna(row[key]):
                value = row[key]
                out[key] = int(value) if key == "price_minor" else str(value)
    for key, value in (extra or {}).items():
        if value is not None:
            out[key] = value
    return out


def catalog_candidates(campaign: Campaign, trigger: CatalogEventTrigger, customers: pd.DataFrame,
                       events: list[dict[str, Any]], products: pd.DataFrame, min_affinity: float) -> pd.DataFrame:
    relevant = [e for e in events or [] if e.get("type") == trigger.event and e.get("sku")]
    if not relevant:
        return EMPTY.copy()
    info = products.set_index("sku") if not products.empty else pd.DataFrame()
    threshold = trigger.min_affinity if trigger.min_affinity is not None else min_affinity
    rule_mask = campaign.rule.evaluate(customers)
    parts = []
    cache: dict[str | None, npt.NDArray[np.float64]] = {}
    for event in relevant:
        sku = str(event["sku"])
        product = _product(info, sku, {k: event.get(k) for k in ("name", "category", "price_minor",
                                                                   "old_price_minor", "currency")})
        if trigger.event == "price_drop":
            old, new = event.get("old_price_minor"), event.get("price_minor")
            if not old or new is None or (old - new) * 100.0 / old < max(trigger.min_drop_percent, 1e-9):
                continue
        category = product.get("category")
        if category not in cache:
            cache[category] = affinity_for(customers, category)
        aff = cache[category]
        pos = np.flatnonzero((aff >= threshold) & (aff > 0) & rule_mask)
        if not len(pos):
            continue
        window = str(event.get("id") or f"{trigger.event}:{sku}:{str(event.get('at', ''))[:10]}")
        payload = {"product": product, "trigger": {"event": trigger.event}}
        parts.append(pd.DataFrame({"pos": pos, "affinity": aff[pos], "trigger_window": f"cat:{window}",
                                   "payload": [payload] * len(pos)}))
    if not parts:
        return EMPTY.copy()
    out = pd.concat(parts, ignore_index=True).sort_values(["pos", "affinity"], ascending=[True, False])
    out = out.drop_duplicates("pos", keep="first")
    return out[["pos", "trigger_window", "payload"]].reset_index(drop=True)


def post_purchase_candidates(campaign: Campaign, trigger: PostPurchaseTrigger, customers: pd.DataFrame,
                             recent_orders: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    if recent_orders is None or recent_orders.empty:
        return EMPTY.copy()
    orders = recent_orders.copy()
    created = pd.to_datetime(orders["created_at"], utc=True)
    lo = pd.Timestamp(as_of - timedelta(days=trigger.max_days))
    hi = pd.Timestamp(as_of - timedelta(days=trigger.min_days))
    orders = orders[(created >= lo) & (created <= hi)]
    orders["pos"] = pd.Index(customers["customer_id"]).get_indexer(orders["customer_id"])
    orders = orders[orders["pos"] >= 0]
    if orders.empty:
        return EMPTY.copy()
    orders = orders.sort_values(["pos", "created_at"], ascending=[True, False]).drop_duplicates("pos")
    sub = customers.iloc[orders["pos"].to_numpy()].reset_index(drop=True)
    orders = orders[campaign.rule.evaluate(sub)]
    aff = customers["affinity"].iloc[orders["pos"].to_numpy()] if "affinity" in customers.columns else None
    cats = [top_category(a) for a in aff] if aff is not None else [None] * len(orders)
    windows = [f"order:{o}" for o in orders["order_id"]]
    payloads = [{"trigger": {"order_id": str(o)}, "recommendation": {"category": c}}
                for o, c in zip(orders["order_id"], cats, strict=True)]
    return _frame(orders["pos"].to_numpy(), windows, payloads)
