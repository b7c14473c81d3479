"""The policy pipeline: who gets which campaign, on which channel, when — and why not.

Stages, in this order (the first stage that removes a customer is the recorded exclusion reason):

1. ``no_address``       — no email address / phone number for any of the campaign's channels
2. ``consent``          — consent per channel and topic (hard; also for transactional messages)
3. ``suppressed``       — channel suppressed after a bounce or complaint
4. ``global_holdout``   — salted-hash global holdout (``settings.global_holdout_share``; marketing only)
5. ``campaign_holdout`` — per-campaign holdout (campaign ``holdout_share``; marketing only)
6. ``smart_sending``    — a message on that channel within 16 h (email) / 24 h (SMS) (marketing only)
7. ``frequency_cap``    — ≤ ``cap_per_7_days`` marketing messages per rolling 7 days and ≤ ``cap_per_day``
                          per rolling 24 h, counted across channels (transactional messages bypass)
8. ``purchase_cooldown``— discount offers not within ``discount_cooldown_days`` after an order
9. ``reeligibility``    — the same campaign within its re-eligibility days
10. ``arbitration``     — several marketing campaigns want the customer: highest priority wins
11. channel choice      — the customer's preferred channel if still allowed, else the campaign's order
12. send time           — preferred hour in the customer's zone, held out of quiet hours (never dropped)

History windows count every planned/sending/sent message whose send time is after ``as_of - window``,
including messages scheduled in the future, so the caps hold for every rolling window containing the
new message, whenever it is finally sent.

**Consent semantics.** Rows in ``consents`` are (customer, channel, topic, status). A marketing campaign
with topic ``T`` on channel ``c`` is covered by the topics ``all``, ``marketing`` and ``T``; a transactional
one by ``all`` and ``T``. An ``unsubscribed`` row at any covering topic blocks (so a channel-level opt-out
with topic ``all`` or ``marketing`` covers every marketing topic, and re-subscribing to one topic does not
lift it); otherwise marketing needs a ``subscribed`` row at a covering topic (opt-in), while a
transactional message only needs the absence of an opt-out.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from storeflow.campaigns import audience
from storeflow.campaigns.definitions import (
    CHANNELS,
    Campaign,
    CatalogEventTrigger,
    PostPurchaseTrigger,
    ReplenishmentTrigger,
)
from storeflow.campaigns.holdout import GLOBAL_SCOPE, buckets
from storeflow.campaigns.rules import RuleError
from storeflow.campaigns.send_schedule import schedule
from storeflow.settings import Settings

log = logging.getLogger(__name__)

REASONS = ("no_address", "consent", "suppressed", "global_holdout", "campaign_holdout", "smart_sending",
           "frequency_cap", "purchase_cooldown", "reeligibility", "arbitration")
ADDRESS_COLUMN = {"email": "email", "sms": "phone"}
SENT_LIKE_STATES = ("planned", "sending", "sent")


def consent_topics(topic: str, kind: str) -> tuple[str, ...]:
    """Consent topics that cover a message of ``topic``/``kind`` (see module docstring)."""
    if kind == "transactional":
        return ("all", topic)
    return ("all", "marketing", topic) if topic != "marketing" else ("all", "marketing")


def consent_allows(statuses: dict[str, str], topic: str, kind: str) -> bool:
    """Scalar consent check for one customer and channel: ``statuses`` maps consent topic → status."""
    levels = consent_topics(topic, kind)
    if any(statuses.get(t) == "unsubscribed" for t in levels):
        return False
    return kind == "transactional" or any(statuses.get(t) == "subscribed" for t in levels)


def message_key(campaign_id: str, customer_id: str, trigger_window: str) -> str:
    """Deterministic outbox key for (campaign, customer, trigger window)."""
    raw = f"{campaign_id}|{customer_id}|{trigger_window}".encode()
    return hashlib.sha256(raw).hexdigest()[:40]


@dataclass
class PlanInputs:
    """Everything the pipeline reads; frames may be empty. ``customers`` has one row per customer."""

    customers: pd.DataFrame
    consents: pd.DataFrame = field(default_factory=pd.DataFrame)
    suppressions: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)  # customer_id campaign_id channel kind send_at
    last_orders: pd.DataFrame = field(default_factory=pd.DataFrame)  # customer_id last_order_at
    recent_orders: pd.DataFrame = field(default_factory=pd.DataFrame)  # customer_id order_id created_at
    replenishment: pd.DataFrame = field(default_factory=pd.DataFrame)
    products: pd.DataFrame = field(default_factory=pd.DataFrame)  # sku name category price_minor in_stock
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PlanResult:
    messages: pd.DataFrame
    exclusions: pd.DataFrame
    holdouts: pd.DataFrame
    stats: dict[str, dict[str, Any]]
    errors: dict[str, str] = field(default_factory=dict)  # campaign id -> why it was left out of this run


class _Context:
    """Per-run arrays aligned to customer positions."""

    def __init__(self, inputs: PlanInputs, as_of: datetime, settings: Settings) -> None:
        self.settings = settings
        self.as_of = as_of
        cust = inputs.customers.reset_index(drop=True)
        cust["customer_id"] = cust["customer_id"].astype(str)
        self.customers = cust
        self.n = len(cust)
        self.index = pd.Index(cust["customer_id"])
        self.as_of_s = pd.Timestamp(as_of).timestamp()
        self._consent = self._consent_arrays(inputs.consents)
        self._global_bucket: np.ndarray | None = None
        self.has_address = {
            ch: (cust[col].notna() & (cust[col].astype(str).str.len() > 0)).to_numpy()
            if col in cust.columns else np.zeros(self.n, dtype=bool)
            for ch, col in ADDRESS_COLUMN.items()
        }
        self.suppressed = {ch: np.zeros(self.n, dtype=bool) for ch in CHANNELS}
        if not inputs.suppressions.empty:
            for ch, grp in inputs.suppressions.groupby("channel"):
                pos = self._pos(grp["customer_id"])
                if ch in self.suppressed:
                    self.suppressed[ch][pos] = True
        self._history(inputs.history)
        self.last_order_s = np.full(self.n, -np.inf)
        if not inputs.last_orders.empty:
            pos = self.index.get_indexer(inputs.last_orders["customer_id"].astype(str))
            ok = pos >= 0
            secs = _epoch_s(inputs.last_orders["last_order_at"]).to_numpy()[ok]
            np.maximum.at(self.last_order_s, pos[ok], np.nan_to_num(secs, nan=-np.inf))

    def _pos(self, ids: pd.Series) -> np.ndarray:
        pos = self.index.get_indexer(ids.astype(str))
        return pos[pos >= 0]

    def _consent_arrays(self, consents: pd.DataFrame) -> dict[tuple[str, str, str], np.ndarray]:
        out: dict[tuple[str, str, str], np.ndarray] = {}
        if consents.empty:
            return out
        pos_all = self.index.get_indexer(consents["customer_id"].astype(str))
        frame = pd.DataFrame({"pos": pos_all, "channel": consents["channel"].to_numpy(),
                              "topic": consents["topic"].fillna("marketing").to_numpy(),
                              "status": consents["status"].to_numpy()})
        frame = frame[frame["pos"] >= 0]
        for (ch, topic, status), grp in frame.groupby(["channel", "topic", "status"]):
            arr = np.zeros(self.n, dtype=bool)
            arr[grp["pos"].to_numpy()] = True
            out[(str(ch), str(topic), str(status))] = arr
        return out

    def consent_ok(self, channel: str, topic: str, kind: str) -> np.ndarray:
        levels = consent_topics(topic, kind)
        blocked = np.zeros(self.n, dtype=bool)
        subscribed = np.zeros(self.n, dtype=bool)
        for t in levels:
            if (channel, t, "unsubscribed") in self._consent:
                blocked |= self._consent[(channel, t, "unsubscribed")]
            if (channel, t, "subscribed") in self._consent:
                subscribed |= self._consent[(channel, t, "subscribed")]
        if kind == "transactional":
            return ~blocked
        return ~blocked & subscribed

    def _history(self, history: pd.DataFrame) -> None:
        self.count_7d = np.zeros(self.n, dtype=np.int64)
        self.count_1d = np.zeros(self.n, dtype=np.int64)
        self.last_channel_s = {ch: np.full(self.n, -np.inf) for ch in CHANNELS}
        self.history = pd.DataFrame(columns=["pos", "campaign_id", "send_s"])
        if history is None or history.empty:
            return
        h = pd.DataFrame({"pos": self.index.get_indexer(history["customer_id"].astype(str)),
                          "campaign_id": history["campaign_id"].astype(str).to_numpy(),
                          "channel": history["channel"].astype(str).to_numpy(),
                          "kind": history["kind"].astype(str).to_numpy(),
                          "send_s": _epoch_s(history["send_at"]).to_numpy()})
        if "state" in history.columns:
            h = h[history["state"].isin(SENT_LIKE_STATES).to_numpy()]
        h = h[h["pos"] >= 0]
        marketing = h[h["kind"] == "marketing"]
        week = marketing[marketing["send_s"] > self.as_of_s - 7 * 86400]
        np.add.at(self.count_7d, week["pos"].to_numpy(), 1)
        day = marketing[marketing["send_s"] > self.as_of_s - 86400]
        np.add.at(self.count_1d, day["pos"].to_numpy(), 1)
        for ch, grp in h.groupby("channel"):
            if ch in self.last_channel_s:
                np.maximum.at(self.last_channel_s[ch], grp["pos"].to_numpy(), grp["send_s"].to_numpy())
        self.history = h[["pos", "campaign_id", "send_s"]]
        self._campaign_last = {c: g for c, g in self.history.groupby("campaign_id")}

    def campaign_last_s(self, campaign_id: str, pos: np.ndarray) -> np.ndarray:
        grp = getattr(self, "_campaign_last", {}).get(campaign_id)
        out = np.full(len(pos), -np.inf)
        if grp is None or grp.empty:
            return out
        last = grp.groupby("pos")["send_s"].max()
        found = last.reindex(pos).to_numpy(dtype="float64")
        return np.where(np.isnan(found), -np.inf, found)

    def global_bucket(self) -> np.ndarray:
        if self._global_bucket is None:
            self._global_bucket = buckets(self.customers["customer_id"], GLOBAL_SCOPE, self.settings.holdout_salt)
        return self._global_bucket


def _epoch_s(values: Iterable[Any]) -> pd.Series:
    ts = pd.to_datetime(pd.Series(values), utc=True, errors="coerce")
    return (ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)


def _candidates(campaign: Campaign, ctx: _Context, inputs: PlanInputs) -> pd.DataFrame:
    trig = campaign.trigger
    cust = ctx.customers
    if isinstance(trig, ReplenishmentTrigger):
        return audience.replenishment_candidates(campaign, trig, cust, inputs.replenishment, inputs.products,
                                                 ctx.as_of)
    if isinstance(trig, CatalogEventTrigger):
        return audience.catalog_candidates(campaign, trig, cust, inputs.events, inputs.products,
                                           ctx.settings.campaign_min_affinity)
    if isinstance(trig, PostPurchaseTrigger):
        return audience.post_purchase_candidates(campaign, trig, cust, inputs.recent_orders, ctx.as_of)
    return audience.segment_candidates(campaign, cust, ctx.as_of)


def plan(campaigns: list[Campaign], inputs: PlanInputs, as_of: datetime, settings: Settings) -> PlanResult:
    """Run the whole pipeline for ``campaigns`` at ``as_of`` (pure: reads ``inputs``, writes nothing)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    ctx = _Context(inputs, as_of, settings)
    s = settings
    stats: dict[str, dict[str, Any]] = {}
    excl_parts: list[pd.DataFrame] = []
    hold_parts: list[pd.DataFrame] = []
    survivors: list[pd.DataFrame] = []

    errors: dict[str, str] = {}
    for campaign in campaigns:
        try:
            cand = _candidates(campaign, ctx, inputs)
        except RuleError as exc:  # this campaign's rule fails on this data: leave it out, plan the others
            errors[campaign.id] = f"audience: {exc}"
            log.error("campaign %s disabled for this run: audience: %s", campaign.id, exc)
            continue
        pos = cand["pos"].to_numpy(dtype="int64")
        st = {"eligible": int(len(pos)), "planned": 0, "held_quiet_hours": 0,
              "excluded": {r: 0 for r in REASONS}}
        stats[campaign.id] = st
        alive = np.ones(len(pos), dtype=bool)
        reason = np.full(len(pos), "", dtype=object)
        chans = list(campaign.channels)
        allowed = np.zeros((len(pos), len(chans)), dtype=bool)
        marketing = campaign.kind == "marketing"

        def cut(mask_out: npt.NDArray[np.bool_] | np.bool_, name: str, alive: npt.NDArray[np.bool_] = alive,
                reason: npt.NDArray[np.object_] = reason) -> None:
            hit = alive & mask_out
            reason[hit] = name
            alive &= ~hit

        for j, ch in enumerate(chans):
            allowed[:, j] = ctx.has_address[ch][pos]
        cut(~allowed.any(axis=1), "no_address")
        for j, ch in enumerate(chans):
            allowed[:, j] &= ctx.consent_ok(ch, campaign.topic, campaign.kind)[pos]
        cut(~allowed.any(axis=1), "consent")
        for j, ch in enumerate(chans):
            allowed[:, j] &= ~ctx.suppressed[ch][pos]
        cut(~allowed.any(axis=1), "suppressed")
        if marketing:
            gb = ctx.global_bucket()[pos]
            g_hold = alive & (gb < s.global_holdout_share)
            cut(g_hold, "global_holdout")
            share = campaign.effective_holdout_share(s)
            cb = buckets(ctx.customers["customer_id"].to_numpy()[pos], campaign.id, s.holdout_salt) \
                if len(pos) else np.zeros(0)
            c_hold = alive & (cb < share)
            cut(c_hold, "campaign_holdout")
            ids = ctx.customers["customer_id"].to_numpy()
            if g_hold.any():
                hold_parts.append(pd.DataFrame({"scope": GLOBAL_SCOPE, "customer_id": ids[pos[g_hold]],
                                                "bucket": gb[g_hold], "share": s.global_holdout_share}))
            if c_hold.any():
                hold_parts.append(pd.DataFrame({"scope": campaign.id, "customer_id": ids[pos[c_hold]],
                                                "bucket": cb[c_hold], "share": share}))
            for j, ch in enumerate(chans):
                hours = s.smart_sending_hours_email if ch == "email" else s.smart_sending_hours_sms
                recent = ctx.last_channel_s[ch][pos] > ctx.as_of_s - hours * 3600
                allowed[:, j] &= ~recent
            cut(~allowed.any(axis=1), "smart_sending")
            over = (ctx.count_7d[pos] + 1 > s.cap_per_7_days) | (ctx.count_1d[pos] + 1 > s.cap_per_day)
            cut(over, "frequency_cap")
            if campaign.offer.is_discount:
                cooled = ctx.last_order_s[pos] > ctx.as_of_s - s.discount_cooldown_days * 86400
                cut(cooled, "purchase_cooldown")
        days = campaign.effective_reeligibility_days(s)
        if days > 0 and len(pos):
            again = ctx.campaign_last_s(campaign.id, pos) > ctx.as_of_s - days * 86400
            cut(again, "reeligibility")

        if (~alive).any():
            ex = pd.DataFrame({"campaign_id": campaign.id,
                               "customer_id": ctx.customers["customer_id"].to_numpy()[pos[~alive]],
                               "reason": reason[~alive]})
            excl_parts.append(ex)
        keep = np.flatnonzero(alive)
        survivors.append(pd.DataFrame({
            "campaign_id": campaign.id, "priority": campaign.priority, "marketing": marketing,
            "pos": pos[keep], "trigger_window": cand["trigger_window"].to_numpy()[keep],
            "payload": cand["payload"].to_numpy()[keep],
            "allowed": list(allowed[keep]) if len(keep) else [],
            "order": campaigns.index(campaign),
        }))

    # --- arbitration (marketing only) -------------------------------------------------------------
    chosen = pd.concat(survivors, ignore_index=True) if survivors else pd.DataFrame()
    if not chosen.empty:
        mk = chosen[chosen["marketing"]].sort_values(["priority", "order"], ascending=[False, True], kind="stable")
        winners = mk.drop_duplicates("pos", keep="first")
        losers = mk.drop(winners.index)
        if not losers.empty:
            excl_parts.append(pd.DataFrame({"campaign_id": losers["campaign_id"].to_numpy(),
                                            "customer_id": ctx.customers["customer_id"].to_numpy()[losers["pos"]],
                                            "reason": "arbitration"}))
        chosen = pd.concat([winners, chosen[~chosen["marketing"]]], ignore_index=True)

    by_id = {c.id: c for c in campaigns}
    messages = _finalise(chosen, by_id, ctx) if not chosen.empty else _empty_messages()
    exclusions = (pd.concat(excl_parts, ignore_index=True) if excl_parts
                  else pd.DataFrame(columns=["campaign_id", "customer_id", "reason"]))
    for (cid, r), v in exclusions.groupby(["campaign_id", "reason"]).size().items():
        stats[cid]["excluded"][r] = int(v)
    for cid, grp in messages.groupby("campaign_id"):
        stats[cid]["planned"] = int(len(grp))
        stats[cid]["held_quiet_hours"] = int(grp["held_quiet_hours"].sum())
    holdouts = (pd.concat(hold_parts, ignore_index=True).drop_duplicates(["scope", "customer_id"])
                if hold_parts else pd.DataFrame(columns=["scope", "customer_id", "bucket", "share"]))
    return PlanResult(messages=messages, exclusions=exclusions, holdouts=holdouts, stats=stats, errors=errors)


def _empty_messages() -> pd.DataFrame:
    return pd.DataFrame(columns=["message_key", "campaign_id", "customer_id", "channel", "topic", "kind",
                                 "is_discount", "trigger_window", "send_at", "held_quiet_hours", "payload"])


def _finalise(chosen: pd.DataFrame, by_id: dict[str, Campaign], ctx: _Context) -> pd.DataFrame:
    cust = ctx.customers
    pos = chosen["pos"].to_numpy(dtype="int64")
    pref = (cust["preferred_channel"].astype(object).to_numpy()[pos] if "preferred_channel" in cust.columns
            else np.full(len(pos), None, dtype=object))
    channel = np.empty(len(pos), dtype=object)
    for cid, idx in chosen.groupby("campaign_id").indices.items():
        chans = list(by_id[cid].channels)
        allowed = np.stack(chosen["allowed"].to_numpy()[idx])
        pick = np.argmax(allowed, axis=1)  # first allowed in the campaign's order
        for j, ch in enumerate(chans):
            use_pref = (pref[idx] == ch) & allowed[:, j]
            pick = np.where(use_pref, j, pick)
        channel[idx] = np.asarray(chans, dtype=object)[pick]
    tz = cust["timezone"] if "timezone" in cust.columns else pd.Series([None] * len(cust))
    hours = cust["preferred_hour"] if "preferred_hour" in cust.columns else pd.Series([np.nan] * len(cust))
    send_at = np.empty(len(pos), dtype="datetime64[us]")
    held = np.zeros(len(pos), dtype=bool)
    s = ctx.settings
    for ch in CHANNELS:
        idx = np.flatnonzero(channel == ch)
        if not len(idx):
            continue
        start, end = s.quiet_hours_email if ch == "email" else s.quiet_hours_sms
        times, h = schedule(ctx.as_of, tz.iloc[pos[idx]].reset_index(drop=True),
                            pd.Series(hours.to_numpy()[pos[idx]]), (start, end))
        send_at[idx] = times.tz_convert(None).to_numpy().astype("datetime64[us]")
        held[idx] = h
    ids = cust["customer_id"].to_numpy(dtype=object)[pos]
    cids = chosen["campaign_id"].to_numpy(dtype=object)
    windows = chosen["trigger_window"].to_numpy(dtype=object)
    sha = hashlib.sha256
    keys = [sha(f"{c}|{u}|{w}".encode()).hexdigest()[:40]
            for c, u, w in zip(cids.tolist(), ids.tolist(), windows.tolist(), strict=True)]
    return pd.DataFrame({
        "message_key": keys,
        "campaign_id": cids,
        "customer_id": ids,
        "channel": channel,
        "topic": pd.Series(cids).map({k: v.topic for k, v in by_id.items()}).to_numpy(),
        "kind": pd.Series(cids).map({k: v.kind for k, v in by_id.items()}).to_numpy(),
        "is_discount": pd.Series(cids).map({k: v.offer.is_discount for k, v in by_id.items()}).to_numpy(dtype=bool),
        "trigger_window": windows,
        "send_at": pd.DatetimeIndex(send_at).tz_localize("UTC"),
        "held_quiet_hours": held,
        "payload": chosen["payload"].to_numpy(),
    })


def history_window(campaigns: list[Campaign], settings: Settings) -> timedelta:
    """How far back the pipeline needs message history."""
    days = max([7, 1] + [c.effective_reeligibility_days(settings) for c in campaigns])
    return timedelta(days=days)
