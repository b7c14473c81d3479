"""`make demo`: the whole storeflow pipeline on one machine, with the embedded defaults.

Starts the simulators (POS, store, SMTP sink, SMS gateway) in this process, prepares a local Airflow
home, runs the DAGs with ``airflow dags test`` (their logs go to ``data/demo-logs/``), and prints what
happened at each step from the warehouse.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from airflow_env import airflow_env, migrate_airflow_db

ROOT = Path(__file__).resolve().parents[1]
_DEMO_DIR = os.environ.get("STOREFLOW_DEMO_DIR")  # tests run the demo in a temporary folder
DATA = Path(_DEMO_DIR) / "data" if _DEMO_DIR else ROOT / "data"
# not ./.airflow: `make airflow` defines connections there
AIRFLOW_HOME = Path(_DEMO_DIR) / "airflow" if _DEMO_DIR else ROOT / ".airflow-demo"
LOGS = DATA / "demo-logs"


def rel(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def say(title: str) -> None:
    """Print a step heading."""
    print(f"\n=== {title} " + "=" * max(3, 76 - len(title)), flush=True)


def run_dag(dag_id: str, env: dict[str, str], conf: str | None = None) -> float:
    """Run one DAG with ``airflow dags test``; fail loudly with the log's tail if it fails."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{dag_id}.log"
    cmd = [sys.executable, "-m", "airflow", "dags", "test", dag_id]
    if conf:
        cmd += ["--conf", conf]
    started = time.perf_counter()
    with log_path.open("w") as log:
        result = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=3600)
    took = time.perf_counter() - started
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-40:]
        print("\n".join(tail))
        raise SystemExit(f"DAG {dag_id} failed (full log: {log_path})")
    print(f"  ran DAG {dag_id} in {took:.1f}s  (log: {rel(log_path)})")
    return took


def show_extract(engine) -> None:
    """What extract_all loaded, per stream and per table."""
    from sqlalchemy import func, select

    from storeflow.warehouse import schema as s

    with engine.connect() as conn:
        runs = conn.execute(
            select(s.sync_runs.c.stream, s.sync_runs.c.status, s.sync_runs.c.rows_read, s.sync_runs.c.rows_changed,
                   s.sync_runs.c.quarantined, s.sync_runs.c.requests, s.sync_runs.c.retries)
            .order_by(s.sync_runs.c.id)
        ).all()
        print(f"  {'stream':<18}{'status':<9}{'read':>8}{'loaded':>8}{'quarant.':>9}{'requests':>9}{'retries':>8}")
        for r in runs:
            print(f"  {r.stream:<18}{r.status:<9}{r.rows_read:>8}{r.rows_changed:>8}{r.quarantined:>9}"
                  f"{r.requests:>9}{r.retries:>8}")
        print("\n  warehouse now holds:")
        for table in (s.locations, s.products, s.stock_levels, s.customer_identities, s.orders, s.order_lines,
                      s.invoices, s.quarantine):
            n = conn.execute(select(func.count()).select_from(table)).scalar_one()
            print(f"    {table.name:<22}{n:>8}")
        q = conn.execute(
            select(s.quarantine.c.rule, func.count()).group_by(s.quarantine.c.rule).order_by(func.count().desc())
        ).all()
        if q:
            print("  quarantined by rule: " + ", ".join(f"{rule}={n}" for rule, n in q))


def pick_skus(engine, n: int = 3) -> list[tuple[str, str, int]]:
    """A few online SKUs with stock: (sku, POS variation id, store stock)."""
    from sqlalchemy import select

    from storeflow.warehouse.schema import products

    with engine.connect() as conn:
        rows = conn.execute(
            select(products.c.sku, products.c.pos_variation_id, products.c.store_stock)
            .where(products.c.store_product_id.is_not(None), products.c.store_stock > 4,
                   products.c.is_deleted.is_(False)).order_by(products.c.sku).limit(n)
        ).all()
    return [(r.sku, r.pos_variation_id, r.store_stock) for r in rows]


def a_day_in_the_shop(sims, engine) -> dict:
    """Things that happen between syncs: a price change, sales in both channels, customer changes."""
    import requests
    from sqlalchemy import select

    from storeflow.warehouse.schema import customer_identities

    (sku1, var1, _), (sku2, var2, _), (sku3, _, _) = pick_skus(engine, 3)
    store = sims.store_state
    before = {sku: _store_view(sims, sku) for sku in (sku1, sku2, sku3)}
    price = before[sku1]["price"] + 150
    requests.post(f"{sims.pos_url}/_sim/price", json={"variation_id": var1, "amount": price}, timeout=10)
    print(f"  POS: price of {sku1} changed to {price / 100:.2f}")
    requests.post(f"{sims.pos_url}/_sim/sales", json={"lines": [{"variation_id": var2, "quantity": 3}]}, timeout=10)
    print(f"  POS: in-store sale of 3 x {sku2}")
    order = requests.post(f"{sims.store_url}/_sim/orders", json={
        "email": "walk.in@example.com", "line_items": [{"sku": sku3, "quantity": 2}]}, timeout=10).json()
    print(f"  store: online order #{order['id']} for 2 x {sku3}")
    with engine.connect() as conn:
        both = conn.execute(
            select(customer_identities.c.customer_id, customer_identities.c.source_id)
            .where(customer_identities.c.source_system == "store", customer_identities.c.customer_id.in_(
                select(customer_identities.c.customer_id).where(customer_identities.c.source_system == "pos")))
            .order_by(customer_identities.c.source_id).limit(2)).all()
    changes = {}
    if both:
        cid, store_id = both[0]
        new_email = f"new.address.{store_id}@example.org"
        requests.put(f"{sims.store_url}/_sim/customers/{store_id}/email", json={"email": new_email}, timeout=10)
        print(f"  store: customer {store_id} changed their email address")
        changes["email"] = (cid, new_email)
    if len(both) > 1:
        cid, _ = both[1]
        with engine.connect() as conn:
            pos_id = conn.execute(select(customer_identities.c.source_id).where(
                customer_identities.c.customer_id == cid, customer_identities.c.source_system == "pos")).scalar()
        requests.post(f"{sims.pos_url}/_sim/customers/{pos_id}/preferences", json={"email_unsubscribed": True},
                      timeout=10)
        print(f"  POS: customer {pos_id} unsubscribed from email at the till")
        changes["unsubscribe"] = (cid, pos_id)
    del store
    return {"skus": (sku1, sku2, sku3), "before": before, "order": order, "customers": changes}


def _store_view(sims, sku: str) -> dict:
    from storeflow.connectors.woocommerce import WooClient
    from storeflow.profile import DEMO_STORE_KEY, DEMO_STORE_SECRET

    # storeflow's own client: OAuth 1.0a over plain HTTP, and retries through the simulators' injected faults
    rows = WooClient(sims.store_url, DEMO_STORE_KEY, DEMO_STORE_SECRET).call("GET", "/products", params={"sku": sku})
    row = rows[0]
    return {"price": round(float(row["regular_price"] or 0) * 100), "stock": row["stock_quantity"]}


def show_syncs(sims, engine, day: dict) -> None:
    """Before/after of what the syncs carried across."""
    from sqlalchemy import select

    from storeflow.warehouse.schema import consents, customers

    print(f"  {'SKU':<22}{'store before':>16}{'store after':>16}")
    for sku in day["skus"]:
        b, a = day["before"][sku], _store_view(sims, sku)
        print(f"  {sku:<22}{b['price'] / 100:>9.2f} / {b['stock']:>3}{a['price'] / 100:>9.2f} / {a['stock']:>3}"
              "   (price / stock)")
    changes = day["customers"]
    with engine.connect() as conn:
        if "email" in changes:
            cid, email = changes["email"]
            now = conn.execute(select(customers.c.email).where(customers.c.customer_id == cid)).scalar()
            print(f"  golden record of {cid}: email now {'the new address' if now == email else now!r}"
                  " (and written to the POS)")
        if "unsubscribe" in changes:
            cid, _ = changes["unsubscribe"]
            status = conn.execute(select(consents.c.status).where(consents.c.customer_id == cid,
                                                                  consents.c.channel == "email")).scalar()
            print(f"  consent of {cid} for email: {status} (and recorded in the store)")


def show_quality(engine) -> None:
    """The DQ summary: quarantine by reason, duplicates merged, Data Docs."""
    from sqlalchemy import func, select

    from storeflow.warehouse import schema as s

    with engine.connect() as conn:
        by_rule = conn.execute(select(s.quarantine.c.stream, s.quarantine.c.rule, func.count())
                               .where(s.quarantine.c.resolved_at.is_(None))
                               .group_by(s.quarantine.c.stream, s.quarantine.c.rule)
                               .order_by(func.count().desc())).all()
        identities = conn.execute(select(func.count()).select_from(s.customer_identities)).scalar_one()
        golden = conn.execute(select(func.count()).select_from(s.customers)).scalar_one()
        merges = (dict(conn.execute(select(s.customer_merges.c.rule, func.count())
                                    .group_by(s.customer_merges.c.rule)).all())
                  if "customer_merges" in s.metadata.tables else {})
        possible = conn.execute(select(func.count()).select_from(s.possible_duplicates)).scalar_one() \
            if "possible_duplicates" in s.metadata.tables else 0
    print(f"  {identities} source customer records → {golden} golden customers; merges by rule: {merges}; "
          f"{possible} possible duplicates left for review")
    print("  quarantined (open) by stream and rule:")
    for stream, rule, n in by_rule[:12]:
        print(f"    {stream:<18}{rule:<28}{n:>6}")
    docs = sorted((DATA / "landing" / "datadocs").rglob("*.html"), key=lambda p: p.stat().st_mtime)
    for suite in ("customers", "orders", "products", "stock"):
        latest = [d for d in docs if f"/datadocs/{suite}/" in str(d)]
        if latest:
            print(f"  Data Docs ({suite}): {rel(latest[-1])}")


def show_scores(engine) -> None:
    """Segment counts, a few customers, the report."""
    from storeflow.scoring.pipeline import current_scores

    scores = current_scores(engine)
    if scores.empty:
        print("  no scores published")
        return
    print(f"  {len(scores)} customers scored; method: {scores['method'].value_counts().to_dict()}")
    print("  RFM segments: " + ", ".join(f"{k}={v}" for k, v in scores["rfm_segment"].value_counts().items()))
    view = scores.assign(clv_365=scores["clv_365_minor"] / 100)
    cols = ["customer_id", "rfm_segment", "p_alive", "expected_orders_90", "clv_365", "churn_probability",
            "next_order_date", "preferred_channel", "send_hour", "top_category"]
    sample = view.sort_values("clv_365", ascending=False).head(5)[[c for c in cols if c in view.columns]]
    print("  top customers by predicted 12-month CLV:")
    print("    " + sample.to_string(index=False, float_format=lambda v: f"{v:.2f}").replace("\n", "\n    "))
    reports = sorted((DATA / "landing").rglob("reports/scoring/**/*.html"))
    if reports:
        print(f"  scoring report: {reports[-1]}")


def show_campaigns(engine, sims) -> None:
    """Per campaign: planned, excluded by reason, sent, held by quiet hours."""
    import requests
    from sqlalchemy import func, select

    from storeflow.warehouse import schema as s

    m = s.messages
    with engine.connect() as conn:
        states = conn.execute(select(m.c.campaign_id, m.c.state, m.c.held_quiet_hours, func.count(),
                                     func.min(m.c.send_at))
                              .group_by(m.c.campaign_id, m.c.state, m.c.held_quiet_hours)).all()
        excl = conn.execute(select(s.campaign_exclusions.c.campaign_id, s.campaign_exclusions.c.reason, func.count())
                            .group_by(s.campaign_exclusions.c.campaign_id, s.campaign_exclusions.c.reason)).all()
    per: dict = {}
    for cid, state, held, n, first in states:
        row = per.setdefault(cid, {"planned": 0, "sent": 0, "waiting": 0, "held": 0, "other": 0, "next": None})
        row["planned"] += n
        row["held"] += n if held else 0
        if state == "sent":
            row["sent"] += n
        elif state == "planned":
            row["waiting"] += n
            row["next"] = min(first, row["next"] or first)
        else:
            row["other"] += n
    reasons: dict = {}
    for cid, reason, n in excl:
        reasons.setdefault(cid, []).append((n, reason))
    print(f"  {'campaign':<22} {'planned':>7} {'sent':>6} {'held by quiet hours':>20} {'waiting':>8}  next send (UTC)")
    for cid in sorted(set(per) | set(reasons)):
        row = per.get(cid, {"planned": 0, "sent": 0, "waiting": 0, "held": 0, "other": 0, "next": None})
        nxt = row["next"].strftime("%Y-%m-%d %H:%M") if row["next"] else "-"
        print(f"  {cid:<22} {row['planned']:>7} {row['sent']:>6} {row['held']:>20} {row['waiting']:>8}  {nxt}"
              + (f"  (skipped/failed at send time: {row['other']})" if row["other"] else ""))
        top = ", ".join(f"{reason}={n:,}" for n, reason in sorted(reasons.get(cid, []), reverse=True))
        print(f"  {'':<22} excluded: {top or 'none'}")
    print("  (held by quiet hours = planned outside the channel's allowed local hours, moved to the next allowed "
          "slot; waiting = not yet due, sent by a later dispatch_messages run)")
    mails = requests.get(f"{sims.smtp_api_url}/api/messages", timeout=10).json()
    sms = requests.get(f"{sims.sms_url}/_sim/messages", timeout=10).json()
    print(f"  SMTP sink received {len(mails)} emails; SMS gateway received {len(sms)} texts")
    if mails:
        mail = mails[0]
        print(f"  e.g. '{mail['subject']}' with X-Storeflow-Message-Key="
              f"{mail['headers'].get('X-Storeflow-Message-Key')} "
              f"and List-Unsubscribe-Post={mail['headers'].get('List-Unsubscribe-Post')}")


def fast_forward_dispatch(engine, sims, start, hours: int = 24) -> None:
    """Run the dispatcher for every hour of the next day, as dispatch_messages would, and print what went out.

    Campaign messages wait for each customer's best local hour inside the channel's quiet hours, so a demo
    run at any time of day sends little at once; moving the dispatcher's clock shows the whole day.
    """
    from datetime import timedelta

    from storeflow.campaigns.outbox import dispatch_due
    from storeflow.settings import get_settings

    os.environ.update(sims.env())
    get_settings.cache_clear()
    sent_email = sent_sms = 0
    line = []
    for hour in range(1, hours + 1):
        now = start + timedelta(hours=hour)
        before_mail = len(sims.smtp_state.list())
        before_sms = _outbound_sms(sims)
        summary = dispatch_due(engine, now)
        mails, texts = len(sims.smtp_state.list()) - before_mail, _outbound_sms(sims) - before_sms
        sent_email, sent_sms = sent_email + mails, sent_sms + texts
        if summary.sent:
            line.append(f"{now:%H}:00 {mails}✉ {texts}✆")
    print("  dispatcher clock moved hour by hour through the next 24 h (UTC hour: emails ✉ / texts ✆ sent):")
    for i in range(0, len(line), 6):
        print("    " + "   ".join(line[i:i + 6]))
    print(f"  over the day: {sent_email} emails and {sent_sms} texts sent, each message exactly once")


def _outbound_sms(sims) -> int:
    return sum(1 for m in sims.sms_state.messages if m.get("direction") == "outbound-api")


def unsubscribe_click(engine, sims, endpoints_url: str) -> None:
    """Click one email's one-click unsubscribe (RFC 8058 POST, as Gmail does) and show the opt-out recorded."""
    import requests
    from sqlalchemy import select

    from storeflow.warehouse.schema import consents, messages

    mail = next((m for m in sims.smtp_state.list()
                 if m["headers"].get("List-Unsubscribe", "").startswith(f"<{endpoints_url}")), None)
    if mail is None:
        print("  no email was sent, so there is no unsubscribe link to click")
        return
    url = mail["headers"]["List-Unsubscribe"].split(",")[0].strip("<> ")
    key = mail["headers"].get("X-Storeflow-Message-Key")
    resp = requests.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    with engine.connect() as conn:
        row = conn.execute(select(messages.c.customer_id, messages.c.topic)
                           .where(messages.c.message_key == key)).first()
        status = conn.execute(select(consents.c.status, consents.c.topic, consents.c.reason).where(
            consents.c.customer_id == row.customer_id, consents.c.channel == "email",
            consents.c.topic == row.topic)).first() if row else None
    print(f"  one-click POST to {endpoints_url}/u/… → HTTP {resp.status_code}")
    if status is not None:
        print(f"  consent of {row.customer_id} for email/{status.topic}: {status.status} ({status.reason}); "
              "the dispatcher re-checks consent before every send and sync_customers carries it to the POS "
              "and the store")


def main(argv: list[str] | None = None) -> int:
    """Run the demo."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--faults", type=float, default=0.02, help="fault rate injected by the simulators")
    args = parser.parse_args(argv)

    for sub in ("warehouse.db", "warehouse.db-wal", "warehouse.db-shm", "landing", "demo-logs", "simulators"):
        target = DATA / sub
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    DATA.mkdir(parents=True, exist_ok=True)
    os.environ["STOREFLOW_DATA_DIR"] = str(DATA)
    os.environ.setdefault("STOREFLOW_UNSUBSCRIBE_SECRET", secrets.token_urlsafe(24))

    from storeflow.warehouse.db import connect_warehouse
    from storeflow_simulators.cluster import SimulatorCluster

    say(f"1. Simulators (seed {args.seed}, scale {args.scale}, fault rate {args.faults})")
    ports = {"pos": 0, "store": 0, "sms": 0, "smtp": 0, "smtp_api": 0}
    with SimulatorCluster(seed=args.seed, scale=args.scale, faults=args.faults, ports=ports) as sims:
        world = sims.world
        print(f"  POS (Square contract)      {sims.pos_url}")
        print(f"  store (WooCommerce)        {sims.store_url}")
        print(f"  SMS gateway (Twilio)       {sims.sms_url}")
        print(f"  SMTP sink                  {sims.smtp_host}:{sims.smtp_port}  (API {sims.smtp_api_url})")
        print(f"  seeded: {len(world.products)} products, {len(world.pos_customers)} POS customers, "
              f"{len(world.store_customers)} store customers, {len(world.orders)} orders over two years")
        from storeflow_simulators.serve import serve_in_thread
        from storeflow_simulators.webhook_sink import WebhookState, create_webhook_app

        alerts_state = WebhookState()
        alerts_sink = serve_in_thread(create_webhook_app(alerts_state))
        alerts_conn = json.dumps({"conn_type": "http", "password": f"{alerts_sink.url}/hooks/storeflow-demo"})
        print(f"  alerting: Slack incoming webhook → local catcher {alerts_sink.url} (connection storeflow_alerts)")
        env = airflow_env(AIRFLOW_HOME, {
            "STOREFLOW_DATA_DIR": str(DATA), **sims.env(), "STOREFLOW_RETRY_DELAY_SECONDS": "3",
            "STOREFLOW_PROFILE": "demo", "STOREFLOW_UNSUBSCRIBE_SECRET": os.environ["STOREFLOW_UNSUBSCRIBE_SECRET"],
            "AIRFLOW_CONN_STOREFLOW_ALERTS": alerts_conn})

        say("2. Airflow metadata database")
        migrate_airflow_db(env, timeout=3600)
        print(f"  AIRFLOW_HOME={rel(AIRFLOW_HOME)} migrated")

        say("3. extract_all: land raw pages, clean, load the warehouse")
        run_dag("extract_all", env)
        engine = connect_warehouse()
        show_extract(engine)
        pages = sorted((DATA / "landing").rglob("page-*.jsonl.gz"))
        print(f"  landing zone: {len(pages)} raw pages under {rel(DATA / 'landing')}/")
        run_dag("sync_orders", env)  # go-live: older online orders are already in POS stock

        say("4. A day in the shop (changes made directly in the POS and the store)")
        day = a_day_in_the_shop(sims, engine)

        say("5. The syncs carry every change across")
        for dag_id in ("sync_orders", "sync_catalog", "sync_customers", "reconcile_inventory"):
            run_dag(dag_id, env)
        show_syncs(sims, engine, day)

        say("6. Data quality")
        show_quality(engine)

        say("7. score_customers")
        run_dag("score_customers", env)
        show_scores(engine)

        say("8. Campaigns: plan, dispatch, a day of sending, one unsubscribe, measure")
        from datetime import UTC, datetime

        from storeflow.endpoints import create_public_app
        from storeflow_simulators.serve import serve_in_thread

        endpoints = serve_in_thread(create_public_app(engine))
        env["STOREFLOW_UNSUBSCRIBE_BASE_URL"] = os.environ["STOREFLOW_UNSUBSCRIBE_BASE_URL"] = f"{endpoints.url}/u"
        print(f"  public endpoints service (unsubscribe page + one-click POST) at {endpoints.url}")
        started = datetime.now(UTC)
        for dag_id in ("plan_campaigns", "dispatch_messages"):
            run_dag(dag_id, env)
        fast_forward_dispatch(engine, sims, started)
        unsubscribe_click(engine, sims, endpoints.url)
        run_dag("measure_campaigns", env)
        show_campaigns(engine, sims)
        endpoints.stop()

        say("9. Operations")
        run_dag("monitor_freshness", env)
        received = alerts_state.list()
        print(f"  alerts: the Slack catcher received {len(received)} message(s) during the demo"
              + (": " + "; ".join(str(p["body"].get("text", ""))[:80] for p in received[:3]) if received else
                 " (no DAG failed and every stream is fresh)"))
        print("  in production set storeflow_alerts (Slack webhook) and/or storeflow_smtp extra.to (email); "
              "without either, failures show only in the task logs")
        alerts_sink.stop()
        print(f"  every DAG run's log is under {rel(LOGS)}/")
    print("\nDemo finished.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
