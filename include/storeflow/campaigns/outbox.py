"""The outbox: exactly-once planning and at-most-once-per-key sending of campaign messages.

**Keys.** Every message has a deterministic ``message_key`` = hash(campaign, customer, trigger window)
under a unique constraint; planning inserts with ``ON CONFLICT DO NOTHING``, so re-running a plan never
creates a second message for the same trigger. The key travels with the message (``X-Storeflow-Message-Key``
header, stable ``Message-ID`` = ``<key@domain>``, SMS request header).

**States.** ``planned`` → ``sending`` (claimed) → ``sent`` | ``failed`` | ``skipped``; transient failures go
back to ``planned`` with a later ``send_at`` until ``dispatch_max_attempts``.

**Claiming.** One ``UPDATE … WHERE id IN (SELECT … ORDER BY send_at LIMIT n FOR UPDATE SKIP LOCKED) AND
state = 'planned' RETURNING …`` per batch: on PostgreSQL concurrent dispatchers skip each other's rows; on
SQLite (one writer at a time, ``FOR UPDATE`` ignored) the single statement runs inside SQLite's write lock
and re-checks ``state = 'planned'``, so two dispatchers cannot claim the same row either. Right before
sending, consent, suppressions and erasure are re-checked (opt-outs take effect before the next send).

**Killed workers — the decision.** A crash between the provider call and the ``sent`` update leaves the
message in ``sending``. Re-sending blindly could message a customer twice; dropping it silently loses it.
So when a ``sending`` row is older than ``settings.dispatch_lease_minutes`` the dispatcher asks the
provider whether it has the key (:meth:`Sender.lookup`):

* found → marked ``sent`` with the provider id (nothing lost, nothing duplicated);
* certainly not found → back to ``planned`` and sent normally (nothing lost);
* the provider cannot tell (plain SMTP relay, SES) → **at-most-once**: marked ``failed`` with
  ``error = 'outcome_unknown: …'`` and listed in :class:`DispatchSummary.unknown` for a human report —
  never re-sent. The stable Message-ID additionally lets receiving systems de-duplicate.

The lease must exceed the longest batch; provider marks are committed every
``settings.dispatch_commit_every`` messages, so a crash leaves at most that many rows (plus the chunks of
up to ``SEND_CHUNK`` messages in flight on each of the ``settings.dispatch_connections`` connections) to
recover.

**Configuration problems lose nothing.** A channel that cannot send (email without an unsubscribe secret, a
channel without a sender) is not claimed at all: its due messages stay ``planned``, the other channels send,
and the run then raises :class:`DispatchConfigError` naming what to set, so the task fails and alerts. Once
fixed, the next run sends them, exactly once.

**Throughput.** Rendering runs in the sending threads; each connection takes a chunk of messages and, when
the relay advertises PIPELINING, sends them with one round trip each
(:meth:`storeflow.campaigns.senders_smtp.SmtpEmailSender.send_batch`).
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import pandas as pd
from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, update

from storeflow.campaigns.definitions import Campaign
from storeflow.campaigns.optouts import MissingSecret, is_public_url, unsubscribe_secret, unsubscribe_url
from storeflow.campaigns.policy import consent_allows
from storeflow.campaigns.providers import default_senders
from storeflow.campaigns.senders import (
    LookupUnsupported,
    OutboundMessage,
    PermanentSendError,
    RecipientOptedOut,
    Sender,
    SendError,
    SenderUnavailable,
    TransientSendError,
)
from storeflow.campaigns.templates import TemplateProblem, render_email, render_sms
from storeflow.settings import Settings, get_settings
from storeflow.warehouse.chunks import chunked
from storeflow.warehouse.schema import (
    campaign_runs,
    consents,
    customers,
    message_events,
    messages,
    suppressions,
)

if TYPE_CHECKING:
    from sqlalchemy import Row

    #: a row read from the warehouse (``messages``, ``customers``): columns by attribute
    DbRow: TypeAlias = Row[*tuple[Any, ...]]

CLAIM_BATCH = 500
SEND_CHUNK = 25  # messages per hand-off to a sending thread
# what dispatch reads of a claimed row (RETURNING fewer columns keeps the claim cheap)
_CLAIMED = ("id", "message_key", "run_id", "campaign_id", "customer_id", "channel", "topic", "kind", "send_at",
            "attempts", "claimed_at", "payload")


class DispatchConfigError(RuntimeError):
    """Due messages could not be sent because of configuration; they stay planned until it is fixed."""


@dataclass
class DispatchSummary:
    """What one dispatch run did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    recovered_sent: int = 0
    recovered_replanned: int = 0
    unknown: list[str] = field(default_factory=list)
    by_campaign: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"claimed": self.claimed, "sent": self.sent, "retried": self.retried, "failed": self.failed,
                "skipped": dict(self.skipped), "recovered_sent": self.recovered_sent,
                "recovered_replanned": self.recovered_replanned, "unknown": list(self.unknown),
                "by_campaign": dict(self.by_campaign)}


# --- planning --------------------------------------------------------------------------------------
def insert_planned(conn: Connection, frame: pd.DataFrame, run_id: str, now: datetime) -> int:
    """Insert planned messages; existing keys are left untouched. Return rows inserted."""
    from storeflow.warehouse.upsert import upsert

    if frame.empty:
        return 0
    send_at = pd.DatetimeIndex(frame["send_at"]).to_pydatetime()
    rows = [
        {"message_key": k, "run_id": run_id, "campaign_id": c, "customer_id": u, "channel": ch, "topic": t,
         "kind": kd, "is_discount": bool(d), "trigger_window": w, "send_at": s, "held_quiet_hours": bool(h),
         "state": "planned", "attempts": 0, "payload": p, "created_at": now, "updated_at": now}
        for k, c, u, ch, t, kd, d, w, s, h, p in zip(
            frame["message_key"], frame["campaign_id"], frame["customer_id"], frame["channel"], frame["topic"],
            frame["kind"], frame["is_discount"], frame["trigger_window"], send_at, frame["held_quiet_hours"],
            frame["payload"], strict=True)
    ]
    return upsert(conn, messages, rows, key=["message_key"], update=[])


# --- dispatch --------------------------------------------------------------------------------------
def _claim(engine: Engine, now: datetime, n: int, blocked: frozenset[str] = frozenset()
           ) -> tuple[str, list[DbRow]]:
    token = secrets.token_hex(8)
    sub = (select(messages.c.id)
           .where(messages.c.state == "planned", messages.c.send_at <= now)
           .order_by(messages.c.send_at, messages.c.id).limit(n))
    if blocked:
        sub = sub.where(messages.c.channel.not_in(sorted(blocked)))
    if engine.dialect.name == "postgresql":
        sub = sub.with_for_update(skip_locked=True)
    stmt = (update(messages)
            .where(messages.c.id.in_(sub.scalar_subquery()), messages.c.state == "planned")
            .values(state="sending", claimed_at=now, claim_token=token, attempts=messages.c.attempts + 1,
                    updated_at=now)
            .returning(*(messages.c[name] for name in _CLAIMED)))
    with engine.begin() as conn:
        rows = list(conn.execute(stmt).all())
    rows.sort(key=lambda r: (r.send_at, r.id))
    return token, rows


_Statuses: TypeAlias = dict[tuple[str, str], dict[str, str]]  # (customer, channel) -> topic -> consent status


def _load_context(engine: Engine, rows: Sequence[DbRow]) -> tuple[
        dict[str, DbRow], _Statuses, set[tuple[str, str]], dict[tuple[str, str], Campaign | None]]:
    ids = sorted({r.customer_id for r in rows})
    contacts: dict[str, DbRow] = {}
    statuses: _Statuses = {}
    suppressed: set[tuple[str, str]] = set()
    runs: dict[tuple[str, str], Campaign | None] = {}
    with engine.connect() as conn:
        for chunk in chunked(ids, 1000):
            for c in conn.execute(select(customers.c.customer_id, customers.c.email, customers.c.phone,
                                         customers.c.given_name, customers.c.family_name,
                                         customers.c.erased_at).where(customers.c.customer_id.in_(chunk))):
                contacts[c.customer_id] = c
            for s in conn.execute(select(consents.c.customer_id, consents.c.channel, consents.c.topic,
                                         consents.c.status).where(consents.c.customer_id.in_(chunk))):
                statuses.setdefault((s.customer_id, s.channel), {})[s.topic] = s.status
            for x in conn.execute(select(suppressions.c.customer_id, suppressions.c.channel)
                                  .where(suppressions.c.customer_id.in_(chunk))):
                suppressed.add((x.customer_id, x.channel))
        for run_id, campaign_id in {(r.run_id, r.campaign_id) for r in rows}:
            definition = conn.execute(select(campaign_runs.c.definition).where(
                campaign_runs.c.run_id == run_id, campaign_runs.c.campaign_id == campaign_id)).scalar()
            runs[(run_id, campaign_id)] = Campaign.model_validate(definition) if definition else None
    return contacts, statuses, suppressed, runs


def render_message(row: DbRow, campaign: Campaign, contact: DbRow, settings: Settings, secret: bytes | None
                   ) -> OutboundMessage:
    """Render the outbox row for its channel (deterministic: a re-render gives the same content)."""
    # SMS opt out by replying STOP and need no link: they go out even while the link secret is missing
    url = (unsubscribe_url(row.customer_id, row.topic, settings.unsubscribe_base_url, secret)
           if row.channel == "email" or secret is not None else "")
    ctx = {
        "customer": {"customer_id": row.customer_id, "given_name": contact.given_name,
                     "family_name": contact.family_name},
        "shop": {"name": settings.shop_name, "postal_address": settings.shop_postal_address},
        "campaign": {"id": campaign.id, "name": campaign.name or campaign.id, "topic": campaign.topic},
        "offer": campaign.offer.model_dump(),
        "unsubscribe_url": url,
        "product": {}, "trigger": {}, "recommendation": {},
    }
    ctx.update(row.payload or {})
    base = {"message_key": row.message_key, "channel": row.channel, "campaign_id": row.campaign_id,
            "customer_id": row.customer_id, "unsubscribe_url": url, "topic": row.topic}
    if row.channel == "email":
        mail = render_email(campaign, ctx)
        return OutboundMessage(to=contact.email, subject=mail.subject, html=mail.html, text=mail.text, **base)
    body, _segments, _enc = render_sms(campaign, ctx)
    return OutboundMessage(to=contact.phone, body=body, **base)


def _block_reason(row: DbRow, contact: DbRow | None, statuses: _Statuses, suppressed: set[tuple[str, str]],
                  now: datetime, settings: Settings) -> str | None:
    if contact is None or contact.erased_at is not None:
        return "customer_erased"
    address = contact.email if row.channel == "email" else contact.phone
    if not address:
        return "no_address"
    if not consent_allows(statuses.get((row.customer_id, row.channel), {}), row.topic, row.kind):
        return "consent_revoked"
    if (row.customer_id, row.channel) in suppressed:
        return "suppressed"
    if row.send_at < now - timedelta(hours=settings.dispatch_max_age_hours):
        return "expired"
    return None


class _Marker:
    """Buffers terminal state updates and flushes them in small transactions."""

    def __init__(self, engine: Engine, token: str | None, every: int) -> None:
        self.engine, self.token, self.every = engine, token, every
        self.pending: list[tuple[int, dict[str, Any], dict[str, Any] | None]] = []

    def add(self, row_id: int, values: dict[str, Any], event: dict[str, Any] | None = None) -> None:
        self.pending.append((row_id, values, event))
        if len(self.pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        groups: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]] = {}
        for row_id, values, _event in self.pending:
            groups.setdefault(tuple(sorted(values)), []).append((row_id, values))
        with self.engine.begin() as conn:
            for columns, items in groups.items():
                # values shared by the whole group (state, provider, updated_at…) are bound once, not per row
                first = items[0][1]
                varying = [c for c in columns if any(v[c] != first[c] for _, v in items)]
                cond = [messages.c.id == bindparam("b_id"), messages.c.state == "sending"]
                if self.token is not None:
                    cond.append(messages.c.claim_token == self.token)
                stmt = update(messages).where(and_(*cond)).values(
                    {c: bindparam(f"v_{c}") if c in varying else first[c] for c in columns})
                conn.execute(stmt, [{"b_id": row_id, **{f"v_{c}": v[c] for c in varying}}
                                    for row_id, v in items])  # executemany
            events = [e for _, _, e in self.pending if e]
            if events:
                conn.execute(insert(message_events), events)
        self.pending.clear()


class _SenderPool:
    """``size`` connections of one sender, each in its own thread (``size == 1``: the sender itself, inline).

    Rendering happens in the sending threads too, so it overlaps with other connections' network waits.
    Results come back in submission order, so marking stays in the dispatcher's thread.
    """

    def __init__(self, prototype: Sender, size: int) -> None:
        self.prototype = prototype
        self.size = size
        self._local = threading.local()
        self._opened: list[Sender] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="sender") if size > 1 else None

    def _sender(self) -> Sender:
        sender = getattr(self._local, "sender", None)
        if sender is None:
            sender = copy.copy(self.prototype) if self._executor else self.prototype
            sender.__enter__()
            self._local.sender = sender
            with self._lock:
                self._opened.append(sender)
        return sender

    def _send_chunk(self, makers: list[Callable[[], OutboundMessage]]) -> list[tuple[Any, str]]:
        """Render each message and send the rendered ones in one ``send_batch``; results in order."""
        sender = self._sender()
        results: list[Any] = []
        outs: list[OutboundMessage] = []
        for make in makers:
            try:
                outs.append(make())
                results.append(None)
            except TemplateProblem as exc:
                results.append(exc)
        sent = iter(sender.send_batch(outs) if outs else [])
        return [(next(sent) if r is None else r, sender.provider) for r in results]

    def map(self, makers: list[Callable[[], OutboundMessage]]) -> Iterator[tuple[Any, str]]:
        """Render (``maker()``) and send each message on the pool's connections; results in order.

        Inline (one connection) each message is sent and yielded before the next is rendered, so it is
        marked as soon as possible; with threads, work is handed over in chunks, so thread hand-offs do not
        cost more than the sends.
        """
        if not self._executor:
            for make in makers:
                yield from self._send_chunk([make])
            return
        step = max(1, min(SEND_CHUNK, -(-len(makers) // self.size)))
        for results in self._executor.map(self._send_chunk, chunked(makers, step)):
            yield from results

    def close(self) -> None:
        if self._executor:
            self._executor.shutdown(wait=True)
        for sender in self._opened:
            sender.__exit__(None, None, None)
        self._opened.clear()


def dispatch_due(engine: Engine, now: datetime, limit: int = 1000, senders: dict[str, Sender] | None = None,
                 connections: int | None = None) -> DispatchSummary:
    """Send up to ``limit`` due messages; first recover stale ``sending`` rows (see module docstring).

    ``connections`` (default ``settings.dispatch_connections``) provider connections per channel send in
    parallel threads; each connection stays open for the whole run.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    settings = get_settings()
    by_channel: Mapping[str, Sender | None] = senders if senders is not None else default_senders(settings)
    connections = connections or settings.dispatch_connections
    summary = DispatchSummary()
    recover_stale(engine, now, by_channel, summary)
    secret, blocked = _unsendable_channels(engine, now, by_channel)
    skipped: Counter[str] = Counter()
    by_campaign: Counter[str] = Counter()
    pools: dict[str, _SenderPool] = {}
    try:
        while summary.claimed < limit:
            token, rows = _claim(engine, now, min(CLAIM_BATCH, limit - summary.claimed), frozenset(blocked))
            if not rows:
                break
            summary.claimed += len(rows)
            contacts, statuses, suppressed, runs = _load_context(engine, rows)
            marker = _Marker(engine, token, settings.dispatch_commit_every)
            ready: dict[str, list[tuple[DbRow, Callable[[], OutboundMessage]]]] = {}
            try:
                for row in rows:
                    campaign = runs.get((row.run_id, row.campaign_id))
                    contact = contacts.get(row.customer_id)
                    reason = _block_reason(row, contact, statuses, suppressed, now, settings)
                    if reason is None and campaign is None:
                        reason = "definition_missing"
                    if reason is not None:
                        skipped[reason] += 1
                        marker.add(row.id, {"state": "skipped", "error": reason, "updated_at": now})
                        continue
                    # no reason: the contact and the definition were both found (narrows their types)
                    assert campaign is not None and contact is not None
                    ready.setdefault(row.channel, []).append(
                        (row, partial(render_message, row, campaign, contact, settings, secret)))
                for channel, items in ready.items():
                    if channel not in pools:
                        # a channel without a sender is blocked, so none of its messages was claimed
                        pools[channel] = _SenderPool(cast(Sender, by_channel[channel]), connections)
                    results = pools[channel].map([make for _, make in items])
                    for (row, _make), (result, provider) in zip(items, results, strict=True):
                        _record(row, result, provider, marker, summary, skipped, by_campaign, now, settings)
            finally:
                marker.flush()
    finally:
        for pool in pools.values():
            pool.close()
    summary.skipped = dict(skipped)
    summary.by_campaign = dict(by_campaign)
    _raise_if_blocked(engine, now, blocked, summary)
    return summary


def _unsendable_channels(engine: Engine, now: datetime, senders: Mapping[str, Sender | None]
                         ) -> tuple[bytes | None, dict[str, str]]:
    """The unsubscribe secret (or None) and, per channel that cannot send now, what to configure."""
    blocked: dict[str, str] = {}
    try:
        secret: bytes | None = unsubscribe_secret()
    except MissingSecret as exc:
        secret = None
        blocked["email"] = str(exc)
    settings = get_settings()
    if settings.profile != "demo" and not is_public_url(settings.unsubscribe_base_url):
        blocked.setdefault("email", "set STOREFLOW_UNSUBSCRIBE_BASE_URL to the public https address of the "
                                    "endpoints service (a loopback address cannot receive unsubscribe clicks)")
    for channel in ("email", "sms"):
        conn_id = f"storeflow_{'smtp' if channel == 'email' else 'sms'}"
        sender = senders.get(channel)
        if sender is None:
            blocked.setdefault(channel, f"no {channel} sender configured (connection {conn_id} or its settings)")
        elif channel not in blocked and hasattr(sender, "check") and _has_due(engine, now, channel):
            try:
                sender.check()  # log in once before claiming: refused credentials keep the messages planned
            except SenderUnavailable as exc:
                blocked[channel] = f"{sender.provider} sender unusable ({exc}); check the connection {conn_id}"
    return secret, blocked


def _has_due(engine: Engine, now: datetime, channel: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(messages.c.id).where(
            messages.c.state == "planned", messages.c.send_at <= now, messages.c.channel == channel).limit(1)
        ).first() is not None


def _raise_if_blocked(engine: Engine, now: datetime, blocked: dict[str, str], summary: DispatchSummary) -> None:
    """Fail the run when due messages wait on a channel that configuration blocks (they stay planned)."""
    if not blocked:
        return
    with engine.connect() as conn:
        waiting: dict[str, int] = dict(conn.execute(
            select(messages.c.channel, func.count()).where(
                messages.c.state == "planned", messages.c.send_at <= now,
                messages.c.channel.in_(sorted(blocked))).group_by(messages.c.channel)).all())
    if not any(waiting.values()):
        return
    problems = "; ".join(f"{n} due {channel} message(s) kept planned: {blocked[channel]}"
                         for channel, n in sorted(waiting.items()) if n)
    raise DispatchConfigError(f"dispatch could not send ({summary.sent} sent otherwise): {problems}")


def _record(row: DbRow, result: str | SendError | TemplateProblem, provider: str, marker: _Marker,
            summary: DispatchSummary, skipped: Counter[str], by_campaign: Counter[str], now: datetime,
            settings: Settings) -> None:
    if isinstance(result, TemplateProblem):
        summary.failed += 1
        marker.add(row.id, {"state": "failed", "error": f"render: {result}"[:2000], "updated_at": now})
        return
    if isinstance(result, RecipientOptedOut):
        skipped["provider_opt_out"] += 1
        marker.add(row.id, {"state": "skipped", "error": str(result)[:2000], "updated_at": now})
        return
    if isinstance(result, TransientSendError):
        if row.attempts >= settings.dispatch_max_attempts:
            summary.failed += 1
            marker.add(row.id, {"state": "failed", "error": str(result)[:2000], "updated_at": now})
        else:
            summary.retried += 1
            marker.add(row.id, {"state": "planned", "error": str(result)[:2000], "updated_at": now,
                                "send_at": now + timedelta(minutes=settings.dispatch_retry_minutes * row.attempts)})
        return
    if isinstance(result, (PermanentSendError, SendError)):
        summary.failed += 1
        marker.add(row.id, {"state": "failed", "error": str(result)[:2000], "updated_at": now})
        return
    summary.sent += 1
    by_campaign[row.campaign_id] += 1
    sent_at = datetime.now(UTC)
    marker.add(row.id, {"state": "sent", "sent_at": sent_at, "provider": provider,
                        "provider_id": result, "error": None, "updated_at": now},
               {"message_key": row.message_key, "event": "sent", "occurred_at": sent_at,
                "detail": {"provider": provider, "provider_id": result}})


def recover_stale(engine: Engine, now: datetime, senders: Mapping[str, Sender | None],
                  summary: DispatchSummary | None = None) -> DispatchSummary:
    """Resolve ``sending`` rows older than the lease by provider look-up (see module docstring)."""
    settings = get_settings()
    summary = summary or DispatchSummary()
    cutoff = now - timedelta(minutes=settings.dispatch_lease_minutes)
    with engine.connect() as conn:
        rows = conn.execute(select(messages).where(messages.c.state == "sending",
                                                   messages.c.claimed_at < cutoff)).all()
    if not rows:
        return summary
    contacts, _statuses, _supp, runs = _load_context(engine, rows)
    try:
        secret: bytes | None = unsubscribe_secret()
    except MissingSecret:
        secret = None
    marker = _Marker(engine, None, 1)
    for row in rows:
        sender = senders.get(row.channel)
        contact = contacts.get(row.customer_id)
        campaign = runs.get((row.run_id, row.campaign_id))
        found: str | None = None
        try:
            if sender is None or contact is None or campaign is None or (row.channel == "email" and not secret):
                raise LookupUnsupported("cannot rebuild the message to look it up")
            if hasattr(sender, "claimed_since"):
                sender.claimed_since = row.claimed_at
            found = sender.lookup(render_message(row, campaign, contact, settings, secret))
        except (LookupUnsupported, TemplateProblem) as exc:
            summary.unknown.append(row.message_key)
            marker.add(row.id, {"state": "failed", "error": f"outcome_unknown: {exc}"[:2000], "updated_at": now})
            continue
        cond_values: dict[str, Any]
        if found is not None:
            summary.recovered_sent += 1
            cond_values = {"state": "sent", "sent_at": row.claimed_at, "provider": sender.provider,
                           "provider_id": found, "error": None, "updated_at": now}
            marker.add(row.id, cond_values, {"message_key": row.message_key, "event": "sent",
                                             "occurred_at": row.claimed_at,
                                             "detail": {"recovered": True, "provider_id": found}})
        else:
            summary.recovered_replanned += 1
            marker.add(row.id, {"state": "planned", "claim_token": None, "updated_at": now})
    marker.flush()
    return summary


EVENTS = ("sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")


def record_message_event(conn: Connection, message_key: str, event: str, occurred_at: datetime,
                         detail: dict[str, Any] | None = None) -> bool:
    """Record a provider event for a message (webhooks, SES event publishing, bounce mailbox).

    Hard bounces and complaints suppress the channel for the customer (``suppressions``); an
    ``unsubscribed`` event records an opt-out for the message's channel and topic. Returns False for an
    unknown message key.
    """
    from storeflow.campaigns.optouts import record_optout
    from storeflow.warehouse.upsert import upsert

    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; expected one of {EVENTS}")
    msg = conn.execute(select(messages.c.customer_id, messages.c.channel, messages.c.topic)
                       .where(messages.c.message_key == message_key)).first()
    if msg is None:
        return False
    conn.execute(insert(message_events).values(message_key=message_key, event=event, occurred_at=occurred_at,
                                               detail=detail))
    hard = event == "bounced" and str((detail or {}).get("bounce_type", "hard")).lower() in {"hard", "permanent"}
    if hard or event == "complained":
        upsert(conn, suppressions, [{"customer_id": msg.customer_id, "channel": msg.channel,
                                     "reason": "bounce" if hard else "complaint", "created_at": occurred_at}])
    elif event == "unsubscribed":
        record_optout(conn, msg.customer_id, msg.channel, msg.topic, reason="provider unsubscribe event",
                      at=occurred_at)
    return True
