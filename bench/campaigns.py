"""Campaign benchmarks: planning 1M scored customers with all policies, and dispatch throughput over SMTP.

    .venv/bin/python bench/campaigns.py                       # 1M customers, 5,000 messages (reported)
    .venv/bin/python bench/campaigns.py --customers 100000 --messages 2000   # quick

1. **plan** — :func:`storeflow.campaigns.policy.plan` (every built-in campaign, every policy stage:
   consent per channel × topic, suppressions, global + campaign holdouts, smart sending, caps, cooldown,
   re-eligibility, arbitration, channel choice, send time with quiet hours) over synthetic scores,
   consents, message history, orders, replenishment predictions and catalog events. Baseline: a
   straightforward per-customer Python loop implementing the same stages, timed on a 10k sample and
   extrapolated linearly. Goal: < 20 s for 1M customers.
2. **dispatch** — :func:`storeflow.campaigns.outbox.dispatch_due` (claim, consent re-check, render,
   MIME, send, mark sent) from a SQLite warehouse to a local aiosmtpd sink (accept and count) running in
   a separate process (``--full-sink``: the simulators' sink, which parses and stores every message).
   Baseline: a plain ``smtplib`` loop sending the same, pre-built messages over one connection
   (raw transport speed). Goal: ≥ 1,000 messages/s.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import smtplib
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

AS_OF = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TZS = np.array(["Europe/London", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney"])
SEGMENTS = np.array(["Champions", "Loyal", "Potential Loyalist", "At Risk", "Hibernating", "Lost", "New"])
CATEGORIES = ["Pantry", "Drinks", "Home", "Beauty", "Garden"]


# --- synthetic data --------------------------------------------------------------------------------
def synth(n: int, seed: int = 7):
    from storeflow.campaigns.policy import PlanInputs

    rng = np.random.default_rng(seed)
    ids = np.char.add("C", np.arange(n).astype(str)).astype(object)
    aff = rng.dirichlet(np.ones(len(CATEGORIES)), n)
    customers = pd.DataFrame({
        "customer_id": ids,
        "segment": SEGMENTS[rng.integers(0, len(SEGMENTS), n)],
        "r_score": rng.integers(1, 6, n), "f_score": rng.integers(1, 6, n), "m_score": rng.integers(1, 6, n),
        "clv_365": rng.gamma(2.0, 90.0, n), "churn_risk": rng.random(n), "p_alive": rng.random(n),
        "expected_orders_90": rng.gamma(1.0, 1.0, n),
        "preferred_hour": np.where(rng.random(n) < 0.8, rng.integers(0, 24, n), np.nan),
        "preferred_channel": np.where(rng.random(n) < 0.6, "email", "sms"),
        "timezone": TZS[rng.integers(0, len(TZS), n)],
        "email": np.where(rng.random(n) < 0.95, np.char.add(ids.astype(str), "@example.org"), None),
        "phone": np.where(rng.random(n) < 0.6, "+447700900123", None),
        "given_name": "Alex",
    })
    for j, cat in enumerate(CATEGORIES):
        customers[f"affinity_{cat.lower()}"] = aff[:, j]
    status = np.array(["subscribed", "unsubscribed"])
    consents = pd.concat([
        pd.DataFrame({"customer_id": ids, "channel": "email", "topic": "marketing",
                      "status": status[(rng.random(n) < 0.15).astype(int)]}),
        pd.DataFrame({"customer_id": ids, "channel": "sms", "topic": "marketing",
                      "status": status[(rng.random(n) < 0.4).astype(int)]}),
        pd.DataFrame({"customer_id": ids[rng.random(n) < 0.05], "channel": "email", "topic": "promotions",
                      "status": "unsubscribed"}),
    ], ignore_index=True)
    supp_ids = ids[rng.random(n) < 0.01]
    suppressions = pd.DataFrame({"customer_id": supp_ids, "channel": "email"})
    h = n // 2
    campaigns = np.array(["reactivation", "winback", "vip_reward", "back_in_stock", "replenishment"])
    history = pd.DataFrame({
        "customer_id": ids[rng.integers(0, n, h)], "campaign_id": campaigns[rng.integers(0, 5, h)],
        "channel": np.where(rng.random(h) < 0.7, "email", "sms"), "kind": "marketing",
        "send_at": pd.Timestamp(AS_OF) - pd.to_timedelta(rng.integers(0, 60 * 86400, h), unit="s"),
        "state": "sent"})
    o = n // 4
    recent = pd.DataFrame({"customer_id": ids[rng.integers(0, n, o)], "order_id": np.arange(o).astype(str),
                           "created_at": pd.Timestamp(AS_OF) - pd.to_timedelta(rng.integers(0, 30 * 86400, o), "s")})
    last = recent.groupby("customer_id", as_index=False)["created_at"].max().rename(
        columns={"created_at": "last_order_at"})
    skus = [f"SKU{i}" for i in range(50)]
    products = pd.DataFrame({"sku": skus, "name": [f"Product {i}" for i in range(50)],
                             "category": [CATEGORIES[i % 5] for i in range(50)], "price_minor": 999,
                             "currency": "GBP", "in_stock": [i % 7 != 0 for i in range(50)]})
    r = n // 5
    repl = pd.DataFrame({"customer_id": ids[rng.integers(0, n, r)], "sku": np.array(skus)[rng.integers(0, 50, r)],
                         "predicted_runout_date": (pd.Timestamp(AS_OF) + pd.to_timedelta(
                             rng.integers(-3, 20, r), unit="D")).date, "confidence": rng.random(r)})
    events = [{"type": "back_in_stock", "sku": "SKU3", "id": "ev1"},
              {"type": "price_drop", "sku": "SKU8", "price_minor": 799, "old_price_minor": 999, "id": "ev2"}]
    return PlanInputs(customers=customers, consents=consents, suppressions=suppressions, history=history,
                      last_orders=last, recent_orders=recent, replenishment=repl, products=products, events=events)


# --- naive per-row baseline ------------------------------------------------------------------------
def naive_plan(campaigns, inputs, as_of: datetime, settings) -> int:
    """The same stages, one customer at a time (rules pre-evaluated to be generous to the baseline)."""
    from storeflow.campaigns import audience
    from storeflow.campaigns.definitions import CatalogEventTrigger, PostPurchaseTrigger, ReplenishmentTrigger
    from storeflow.campaigns.holdout import bucket as holdout_bucket
    from storeflow.campaigns.policy import consent_allows

    cust = inputs.customers.reset_index(drop=True)
    cands: dict[str, dict[int, str]] = {}
    for c in campaigns:
        t = c.trigger
        if isinstance(t, ReplenishmentTrigger):
            f = audience.replenishment_candidates(c, t, cust, inputs.replenishment, inputs.products, as_of)
        elif isinstance(t, CatalogEventTrigger):
            f = audience.catalog_candidates(c, t, cust, inputs.events, inputs.products, settings.campaign_min_affinity)
        elif isinstance(t, PostPurchaseTrigger):
            f = audience.post_purchase_candidates(c, t, cust, inputs.recent_orders, as_of)
        else:
            f = audience.segment_candidates(c, cust, as_of)
        cands[c.id] = dict(zip(f["pos"], f["trigger_window"], strict=True))
    consents: dict[tuple[str, str], dict[str, str]] = {}
    for r in inputs.consents.itertuples():
        consents.setdefault((r.customer_id, r.channel), {})[r.topic] = r.status
    supp = {(r.customer_id, r.channel) for r in inputs.suppressions.itertuples()}
    hist: dict[str, list] = {}
    for r in inputs.history.itertuples():
        hist.setdefault(r.customer_id, []).append((r.campaign_id, r.channel, r.kind, r.send_at.to_pydatetime()))
    last_order = dict(zip(inputs.last_orders["customer_id"], inputs.last_orders["last_order_at"], strict=True))
    planned = 0

    def bucket(cid: str, scope: str) -> float:
        return holdout_bucket(cid, scope, settings.holdout_salt)

    for pos, row in enumerate(cust.itertuples()):
        cid = row.customer_id
        wins = []
        for c in campaigns:
            if pos not in cands[c.id]:
                continue
            chans = [ch for ch in c.channels if isinstance(row.email if ch == "email" else row.phone, str)]
            chans = [ch for ch in chans if consent_allows(consents.get((cid, ch), {}), c.topic, c.kind)]
            chans = [ch for ch in chans if (cid, ch) not in supp]
            if not chans:
                continue
            if bucket(cid, "global") < settings.global_holdout_share:
                continue
            if bucket(cid, c.id) < c.effective_holdout_share(settings):
                continue
            h = hist.get(cid, [])
            chans = [ch for ch in chans if not any(
                x[1] == ch and x[3] > as_of - timedelta(hours=settings.smart_sending_hours_email
                                                        if ch == "email" else settings.smart_sending_hours_sms)
                for x in h)]
            if not chans:
                continue
            week = sum(1 for x in h if x[2] == "marketing" and x[3] > as_of - timedelta(days=7))
            day = sum(1 for x in h if x[2] == "marketing" and x[3] > as_of - timedelta(days=1))
            if week + 1 > settings.cap_per_7_days or day + 1 > settings.cap_per_day:
                continue
            lo = last_order.get(cid)
            if c.offer.is_discount and lo is not None and lo > as_of - timedelta(days=settings.discount_cooldown_days):
                continue
            days = c.effective_reeligibility_days(settings)
            if any(x[0] == c.id and x[3] > as_of - timedelta(days=days) for x in h):
                continue
            wins.append((c.priority, c, chans))
        if not wins:
            continue
        _, c, chans = max(wins, key=lambda w: w[0])
        ch = row.preferred_channel if row.preferred_channel in chans else chans[0]
        start, end = settings.quiet_hours_email if ch == "email" else settings.quiet_hours_sms
        local = as_of.astimezone(ZoneInfo(row.timezone))
        hour = local.hour if pd.isna(row.preferred_hour) else int(row.preferred_hour)
        when = local.replace(hour=hour, minute=0, second=0, microsecond=0)
        if when < local.replace(minute=0, second=0, microsecond=0):
            when += timedelta(days=1)
        if not start <= when.hour < end:
            when = (when + timedelta(days=1) if when.hour >= end else when).replace(hour=start)
        hashlib.sha256(f"{c.id}|{cid}|{cands[c.id][pos]}".encode()).hexdigest()
        planned += 1
    return planned


# --- dispatch --------------------------------------------------------------------------------------
def _run_sink(queue, full: bool) -> None:
    """A local SMTP sink in its own process: bare aiosmtpd (accept + count) or the simulators' parsing sink."""
    if full:
        from storeflow_simulators.smtp_sink import SmtpSink

        sink = SmtpSink(port=0).start()
        queue.put(sink.port)
    else:
        from aiosmtpd.controller import Controller

        from storeflow_simulators.smtp_sink import PipeliningHandler

        class Count(PipeliningHandler):
            n = 0

            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
                Count.n += 1
                return "250 OK"

        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        Controller(Count(), hostname="127.0.0.1", port=port).start()
        queue.put(port)
    while True:
        time.sleep(3600)


CAMPAIGN = """
id: bench_mail
topic: promotions
channels: [email]
audience: "true"
offer: {type: discount, percent: 10, code: BENCH10}
holdout_share: 0
reeligibility_days: 0
templates:
  subject: "{{ customer.given_name }}, 10% off"
  html: "<html><body><p>Hi {{ customer.given_name }}, use {{ offer.code }}.</p></body></html>"
  text: "Hi {{ customer.given_name }}, use {{ offer.code }}."
"""


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_dispatch(n_messages: int, port: int, connections: int | None,
                   sink_pid: int) -> tuple[float, float, int, float, float]:
    """Dispatch ``n_messages`` to the sink; return (ours s, baseline s, n, our CPU s, sink CPU s during ours)."""
    os.environ["STOREFLOW_GLOBAL_HOLDOUT_SHARE"] = "0"
    os.environ.setdefault("STOREFLOW_UNSUBSCRIBE_SECRET", "bench-secret-" + os.urandom(8).hex())
    from storeflow.settings import get_settings

    get_settings.cache_clear()
    from sqlalchemy import func, select

    from storeflow.campaigns.outbox import dispatch_due
    from storeflow.campaigns.planner import plan_campaigns
    from storeflow.campaigns.senders import build_email
    from storeflow.campaigns.senders_smtp import SmtpEmailSender
    from storeflow.warehouse.db import make_engine
    from storeflow.warehouse.schema import consents, customers, messages, metadata

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        metadata.create_all(engine)
        t0 = AS_OF - timedelta(days=90)
        with engine.begin() as conn:
            conn.execute(customers.insert(), [
                {"customer_id": f"C{i}", "email": f"c{i}@example.org", "given_name": f"Name{i}",
                 "timezone": "Europe/London", "loaded_at": t0} for i in range(n_messages)])
            conn.execute(consents.insert(), [
                {"customer_id": f"C{i}", "channel": "email", "topic": "marketing", "status": "subscribed",
                 "changed_at": t0} for i in range(n_messages)])
        cdir = Path(tmp) / "campaigns"
        cdir.mkdir()
        (cdir / "bench.yaml").write_text(CAMPAIGN)
        scores = pd.DataFrame({"customer_id": [f"C{i}" for i in range(n_messages)]})
        summary = plan_campaigns(engine, AS_OF, cdir, scores=scores)
        assert summary.planned == n_messages, summary.as_dict()
        settings = get_settings()
        sender = SmtpEmailSender.from_settings(settings, host="127.0.0.1", port=port)
        start, cpu, sink_cpu = time.perf_counter(), time.process_time(), _cpu_s(sink_pid)
        result = dispatch_due(engine, AS_OF + timedelta(minutes=1), limit=n_messages, senders={"email": sender},
                              connections=connections)
        ours, cpu, sink_cpu = (time.perf_counter() - start, time.process_time() - cpu,
                               _cpu_s(sink_pid) - sink_cpu)
        with engine.connect() as conn:
            sent = conn.execute(select(func.count()).where(messages.c.state == "sent")).scalar()
        assert result.sent == sent == n_messages, result.as_dict()
        # baseline: plain smtplib loop, same messages pre-built, one connection
        from storeflow.campaigns.optouts import unsubscribe_secret
        from storeflow.campaigns.outbox import _load_context, render_message

        with engine.connect() as conn:
            rows = conn.execute(select(messages)).all()
        contacts, _s, _p, runs = _load_context(engine, rows)
        secret = unsubscribe_secret()
        outs = [render_message(r, runs[(r.run_id, r.campaign_id)], contacts[r.customer_id], settings, secret)
                for r in rows]
        raws = [build_email(o, from_addr=settings.campaign_from_email, from_name=settings.shop_name,
                            domain="bench.example") for o in outs]
        start = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for o, raw in zip(outs, raws, strict=True):
                smtp.sendmail(settings.campaign_from_email, [o.to], raw)
        base = time.perf_counter() - start
        engine.dispose()
    return ours, base, n_messages, cpu, sink_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=10_000, help="customers for the per-row baseline")
    parser.add_argument("--messages", type=int, default=5_000, help="messages for the dispatch benchmark")
    parser.add_argument("--skip-dispatch", action="store_true")
    parser.add_argument("--full-sink", action="store_true",
                        help="use storeflow_simulators.smtp_sink (parses and stores every message) as the sink")
    parser.add_argument("--connections", type=int, default=None, help="parallel SMTP connections (settings)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="dispatch rounds (each with its own baseline); medians are reported")
    args = parser.parse_args(argv)

    from storeflow.campaigns import BUILTIN_CAMPAIGNS_DIR
    from storeflow.campaigns.definitions import load_campaigns
    from storeflow.campaigns.policy import PlanInputs, plan
    from storeflow.settings import Settings

    settings = Settings()
    campaigns, errors = load_campaigns(BUILTIN_CAMPAIGNS_DIR)
    assert not errors, errors
    t = time.perf_counter()
    inputs = synth(args.customers)
    gen_s = time.perf_counter() - t
    t, cpu = time.perf_counter(), time.process_time()
    result = plan(campaigns, inputs, AS_OF, settings)
    plan_s, plan_cpu = time.perf_counter() - t, time.process_time() - cpu
    planned = len(result.messages)
    excluded = len(result.exclusions)

    sample_n = min(args.sample, args.customers)
    small = synth(sample_n, seed=11)
    t = time.perf_counter()
    naive_planned = naive_plan(campaigns, small, AS_OF, settings)
    naive_s = time.perf_counter() - t
    naive_extrapolated = naive_s * args.customers / sample_n
    t = time.perf_counter()
    vec_small = len(plan(campaigns, PlanInputs(**vars(small)), AS_OF, settings).messages)
    vec_small_s = time.perf_counter() - t

    print(f"plan: {args.customers:,} customers, {len(campaigns)} campaigns -> {planned:,} planned, "
          f"{excluded:,} exclusions recorded; {plan_s:.2f} s wall, {plan_cpu:.2f} s CPU "
          f"(data generation {gen_s:.1f} s, not timed; load average {os.getloadavg()[0]:.1f})")
    print(f"baseline: per-row loop on {sample_n:,} customers {naive_s:.2f} s ({naive_planned} planned; "
          f"vectorised on the same sample: {vec_small_s:.2f} s, {vec_small} planned) "
          f"-> extrapolated {naive_extrapolated:.1f} s; same number planned: {naive_planned == vec_small}")
    lines = [
        f"BENCH campaigns plan_s={plan_s:.2f} baseline=per_row_python_loop_extrapolated_from_{sample_n}"
        f"_customers goal<20 customers={args.customers}",
        f"BENCH campaigns plan_speedup={naive_extrapolated / plan_s:.1f} baseline=per_row_python_loop_"
        f"{naive_extrapolated:.0f}s_extrapolated",
        f"BENCH campaigns plan_customers_per_s={args.customers / plan_s:.0f} baseline=none",
        f"BENCH campaigns plan_cpu_s={plan_cpu:.2f} baseline=none load_avg_1m={os.getloadavg()[0]:.1f}",
    ]
    if not args.skip_dispatch:
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_run_sink, args=(queue, args.full_sink), daemon=True)
        proc.start()
        try:
            port = queue.get(timeout=60)
            runs = [bench_dispatch(args.messages, port, args.connections, proc.pid) for _ in range(args.rounds)]
        finally:
            proc.terminate()
            proc.join(10)
        n = args.messages
        for i, (ours, base, _n, cpu, sink_cpu) in enumerate(runs, 1):
            print(f"dispatch round {i}: {n:,} messages in {ours:.2f} s = {n / ours:.0f} msg/s (claim, consent "
                  f"re-check, render, MIME, SMTP, mark sent); plain smtplib loop of the same pre-built messages: "
                  f"{n / base:.0f} msg/s; CPU per message: dispatcher {1000 * cpu / n:.2f} ms, sink "
                  f"{1000 * sink_cpu / n:.2f} ms")
        ours, base, cpu, sink_cpu = (statistics.median(r[k] for r in runs) for k in (0, 1, 3, 4))
        print(f"dispatch median of {len(runs)}: {n / ours:.0f} msg/s vs plain smtplib {n / base:.0f} msg/s "
              f"({os.cpu_count()} cores shared by dispatcher and sink; load average {os.getloadavg()[0]:.1f})")
        lines += [
            f"BENCH campaigns dispatch_msgs_per_s={n / ours:.0f} baseline=plain_smtplib_loop_"
            f"{n / base:.0f}_msgs_per_s goal>=1000 messages={n} rounds={len(runs)}",
            f"BENCH campaigns dispatch_vs_raw_smtplib={base / ours:.2f} baseline=plain_smtplib_loop_prebuilt_messages",
            f"BENCH campaigns dispatch_cpu_ms_per_msg={1000 * cpu / n:.3f} baseline=none "
            f"sink_cpu_ms_per_msg={1000 * sink_cpu / n:.3f}",
        ]
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
