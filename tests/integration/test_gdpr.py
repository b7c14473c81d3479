"""GDPR export and erasure across warehouse, outbox, landing zone, POS and store (real HTTP, SQLite + PG)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from sqlalchemy import JSON, String, inspect, select, update

from storeflow.connectors.square import SquareClient
from storeflow.connectors.square_models import Customer as PosCustomer
from storeflow.connectors.woocommerce import WooClient
from storeflow.connectors.woocommerce_models import Customer as StoreCustomer
from storeflow.landing import LandingZone, decode_page
from storeflow.privacy.access_export import export_customer
from storeflow.privacy.cli import main
from storeflow.privacy.erased_values import erased_values
from storeflow.privacy.erasure import erase_customer
from storeflow.privacy.scrub import MissingSecret
from storeflow.quality import quarantine
from storeflow.quality.identity import customer_id_for, relink_orders
from storeflow.sync.registry import get_stream
from storeflow.sync.streams import LoadContext, Window
from storeflow.warehouse import schema as S
from storeflow.warehouse.upsert import upsert
from storeflow_simulators.cluster import SimulatorCluster
from storeflow_simulators.credentials import DEMO_POS_TOKEN, DEMO_STORE_KEY, DEMO_STORE_SECRET

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
STREAMS = ("pos_customers", "pos_orders", "store_customers", "store_orders")


@pytest.fixture(scope="module")
def cluster():
    with SimulatorCluster(seed=3, scale="tiny", ports={"pos": 0, "store": 0, "sms": 0, "smtp": 0, "smtp_api": 0}) as c:
        yield c


@pytest.fixture
def clients(cluster):
    return (SquareClient(cluster.pos_url, DEMO_POS_TOKEN),
            WooClient(cluster.store_url, DEMO_STORE_KEY, DEMO_STORE_SECRET))


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("STOREFLOW_PSEUDONYM_SECRET", "test-pseudonym-secret-0123456789")


# --- helpers ------------------------------------------------------------------------------------------
def _dump(engine) -> dict[str, list[str]]:
    """Every text/JSON cell of every table, as text."""
    out: dict[str, list[str]] = {}
    present = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        for table in S.metadata.sorted_tables:
            if table.name not in present:
                continue
            cols = [c for c in table.c if isinstance(c.type, String | JSON)]
            cells = []
            for row in conn.execute(select(*cols)) if cols else []:
                cells += [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in row if v is not None]
            out[table.name] = cells
    return out


def _landing_text(landing: LandingZone) -> str:
    parts = []
    for stream in landing.list_streams():
        for run in landing.list_runs(stream):
            for _, records in landing.iter_pages(stream, run):
                parts.append(json.dumps(records, ensure_ascii=False))
    for key in landing.list_keys():
        if not key.endswith(".jsonl.gz"):  # exports, Data Docs, reports
            parts.append(landing.get_bytes(key).decode("utf-8"))
    return "\n".join(parts)


def _mentions(text: str, needle: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(needle)}(?![\w])", text, re.I) is not None


def _load(engine, landing, pos, store):
    """Fetch, land and load each stream (what run_stream does, without its end-of-run DQ gate)."""
    for name in STREAMS:
        spec = get_stream(name)
        ctx = LoadContext(run_id="run-1", stream=name, source_system=spec.source_system, loaded_at=NOW)
        client = pos if name.startswith("pos") else store
        for page_no, page in enumerate(spec.fetch(client, Window(start=None, end=NOW)), start=1):
            landing.write_page(name, "run-1", page_no, page, NOW)
            with engine.begin() as conn:
                spec.load(conn, page, ctx)


def _pick_people(engine, pos, store, n: int = 2, observable: bool = True):
    """A person with a POS and a store record (same email, a phone, a family name nobody else has)."""
    ci = S.customer_identities
    with engine.connect() as conn:
        rows = conn.execute(select(ci.c.source_system, ci.c.source_id, ci.c.email_norm, ci.c.phone_e164,
                                   ci.c.given_name, ci.c.family_name, ci.c.raw)).all()
        product_text = " ".join(r[0] or "" for r in conn.execute(select(S.products.c.name)))
        buyers = set(conn.execute(select(S.orders.c.email_norm)).scalars()) | set(conn.execute(
            select(ci.c.email_norm).join(S.orders, S.orders.c.customer_id == ci.c.customer_id)).scalars())
    by_email = defaultdict(list)
    family_owners = defaultdict(set)
    for r in rows:
        by_email[r.email_norm].append(r)
        for name in (r.family_name, r.given_name):  # swapped names are seeded dirt: a surname can be a given name
            if name:
                family_owners[name.lower()].add(r.email_norm)
    people = []
    for email, idents in sorted(by_email.items(), key=lambda kv: kv[0] or ""):
        systems = {i.source_system: i for i in idents}
        if not email or set(systems) != {"pos", "store"} or len(idents) != 2 or email not in buyers:
            continue
        p, s = systems["pos"], systems["store"]
        if not p.phone_e164 or not p.family_name or not p.given_name:
            continue
        if any(len(family_owners[i.family_name.lower()]) != 1 for i in idents if i.family_name):
            continue
        if _mentions(product_text, p.family_name) or _mentions(product_text, p.given_name):
            continue
        if observable:  # earlier tests opted people out in the (module-wide) simulators: skip those
            note = pos.retrieve_customer(p.source_id).get("note") or ""
            if "email_opt_out: yes" in note:
                continue
            current = StoreCustomer.model_validate(store.call("GET", f"/customers/{s.source_id}"))
            if all((current.consent(ch) or (False, None))[0] for ch in ("email", "sms")):
                continue  # nothing left to opt out in the store: the write could not be observed
        people.append((p, s))
        if len(people) == n:
            break
    assert len(people) == n, "the tiny world should have people in both systems"
    return people


def _golden(engine, pos_ident, store_ident) -> str:
    """Attach both identities to one golden record, with consents, outbox rows, scores, quarantine."""
    cid = customer_id_for("pos", pos_ident.source_id)
    ci = S.customer_identities
    with engine.begin() as conn:
        for ident in (pos_ident, store_ident):
            conn.execute(update(ci).where((ci.c.source_system == ident.source_system)
                                          & (ci.c.source_id == ident.source_id)).values(customer_id=cid))
        upsert(conn, S.customers, [{
            "customer_id": cid, "email": pos_ident.email_norm, "phone": pos_ident.phone_e164,
            "given_name": pos_ident.given_name, "family_name": pos_ident.family_name, "address_line1": None,
            "country": "GB", "field_updated_at": {"email": {"source": f"pos:{pos_ident.source_id}"}},
            "created_at": NOW, "updated_at": NOW, "loaded_at": NOW}])
        relink_orders(conn, [("pos", pos_ident.source_id, cid), ("store", store_ident.source_id, cid)])
        upsert(conn, S.consents, [{"customer_id": cid, "channel": "email", "topic": "marketing",
                                   "status": "subscribed", "source_system": "store", "changed_at": NOW}])
        key = f"msg-{cid[-8:]}"
        conn.execute(S.messages.insert().values(
            message_key=key, run_id="r1", campaign_id="winback", customer_id=cid, channel="email", topic="winback",
            kind="marketing", is_discount=False, trigger_window="2026-W47", send_at=NOW, held_quiet_hours=False,
            state="failed", attempts=1, error=f"recipient refused: {{'{pos_ident.email_norm}': (550, b'no')}}",
            payload={"first_name": pos_ident.given_name, "offer": "10%", "sku": "SKU-1"}, created_at=NOW,
            updated_at=NOW))
        conn.execute(S.message_events.insert().values(message_key=key, event="bounced", occurred_at=NOW,
                                                      detail={"to": pos_ident.email_norm, "code": 550}))
        upsert(conn, S.suppressions, [{"customer_id": cid, "channel": "email", "reason": "bounce",
                                       "address": pos_ident.email_norm, "created_at": NOW}])
        upsert(conn, S.holdout_assignments, [{"scope": "global", "customer_id": cid, "bucket": 0.5, "share": 0.05,
                                              "assigned_at": NOW}])
        upsert(conn, S.customer_scores, [{"as_of": NOW, "model_version": "v1", "customer_id": cid,
                                          "method": "heuristic", "n_orders": 2, "monetary_minor": 1234,
                                          "created_at": NOW}])
        quarantine.record(conn, stream="store_orders", source_system="store", source_id="990001",
                          rule="store_record_invalid", reason=f"bad phone {pos_ident.phone_e164} for guest",
                          payload={"id": 990001, "billing": {"email": pos_ident.email_norm,
                                                              "first_name": pos_ident.given_name,
                                                              "last_name": pos_ident.family_name,
                                                              "phone": pos_ident.phone_e164}}, run_id="run-1")
    return cid


def _their_orders(engine, cid, email=None):
    """Orders linked to the golden record, plus guest orders placed with their email."""
    o = S.orders
    where = (o.c.customer_id == cid) | (o.c.email_norm == email) if email else o.c.customer_id == cid
    with engine.connect() as conn:
        return {(r.source_system, r.order_id): r.total_minor for r in conn.execute(select(o).where(where))}


# --- tests --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_export_then_erase_across_every_store_of_personal_data(warehouse, clients, tmp_path):
    pos, store = clients
    S.metadata.create_all(warehouse)  # privacy tables until the lead regenerates the migrations
    landing = LandingZone.from_url(str(tmp_path / "landing"))
    _load(warehouse, landing, pos, store)
    person, other = _pick_people(warehouse, pos, store)
    p_ident, s_ident = person
    cid = _golden(warehouse, p_ident, s_ident)
    with warehouse.connect() as conn:  # the loaders' identity resolution may have merged more identities
        own = {(r.source_system, r.source_id) for r in conn.execute(select(
            S.customer_identities.c.source_system, S.customer_identities.c.source_id).where(
            S.customer_identities.c.customer_id == cid))}
    n_pos, n_store = sum(1 for s, _ in own if s == "pos"), sum(1 for s, _ in own if s == "store")
    orders_before = _their_orders(warehouse, cid, p_ident.email_norm)
    assert orders_before, "the chosen person has orders"
    email, phone = p_ident.email_norm, p_ident.phone_e164
    # names nobody else in the world has (a given name like "Lucas" may belong to others too)
    with warehouse.connect() as conn:
        others = conn.execute(select(S.customer_identities.c.given_name, S.customer_identities.c.family_name).where(
            S.customer_identities.c.email_norm != email)).all()
    other_names = {(n or "").lower() for r in others for n in r}
    names = {n for n in (p_ident.given_name, p_ident.family_name) if n.lower() not in other_names}
    assert p_ident.family_name in names
    assert any(email in c for cells in _dump(warehouse).values() for c in cells)
    docs_key = "datadocs/customers/run-1/pos.html"  # GX Data Docs show samples of failing values
    landing.put_bytes(docs_key, f"<td>3 of 9 rows; sample ['{email}', '{phone}']</td>".encode(), "text/html")
    assert email in _landing_text(landing)

    # export: everything before erasure
    doc = export_customer(warehouse, landing, customer_id=cid, now=NOW)
    wh = doc["warehouse"]
    assert [r["customer_id"] for r in wh["customers"]] == [cid]
    assert {(r["source_system"], r["source_id"]) for r in wh["customer_identities"]} == own
    assert {("pos", p_ident.source_id), ("store", s_ident.source_id)} <= own
    assert {(r["source_system"], r["order_id"]) for r in wh["orders"]} == set(orders_before)
    assert {r["order_id"] for r in wh["order_lines"]} <= {o for _, o in orders_before}
    assert len(wh["order_lines"]) > 0
    for table in ("consents", "messages", "message_events", "suppressions", "customer_scores", "quarantine"):
        assert wh.get(table), f"export lacks {table}"
    streams = {p["stream"] for p in doc["landing"]}
    assert {"pos_customers", "store_customers"} <= streams
    assert any(r.get("id") == p_ident.source_id for p in doc["landing"] if p["stream"] == "pos_customers"
               for r in p["records"])
    stored = json.loads(landing.get_bytes(doc["export_uri"].split("/landing/", 1)[1]))
    assert stored["subject"]["customer_ids"] == [cid] and email in json.dumps(stored)

    # dry run: counts, no change
    before = _dump(warehouse)
    dry = erase_customer(warehouse, landing, customer_id=cid, requested_by="dpo@test", dry_run=True, now=NOW)
    assert dry.status == "dry_run" and dry.counts["customer_identities"] >= len(own) and dry.landing_pages > 0
    assert _dump(warehouse) == before

    # erase
    report = erase_customer(warehouse, landing, customer_id=cid, pos_client=pos, store_client=store,
                            requested_by="dpo@test", now=NOW)
    assert report.status == "erased" and report.counts["landing_objects"] == 1
    assert "3 of 9 rows; sample ['[erased]', '[erased]']" in landing.get_bytes(docs_key).decode()
    assert report.external["pos"] == {"records": n_pos, "opted_out": n_pos}
    assert report.external["store"] == {"records": n_store, "opted_out": n_store}
    pseudo = report.subjects[0]
    assert pseudo.startswith("anon_") and cid not in pseudo

    # nothing personal left in any table or landing page (erasure_log and privacy tables included)
    dump = _dump(warehouse)
    for table, cells in dump.items():
        text = "\n".join(cells)
        for needle in (email, phone, phone.lstrip("+"), cid, p_ident.source_id, *names):
            assert not _mentions(text, needle), f"{needle!r} still in {table}"
    ltext = _landing_text(landing)
    for needle in (email, phone, cid, p_ident.source_id, *names):
        assert not _mentions(ltext, needle), f"{needle!r} still in the landing zone"
    store_raw = [r for s in ("store_customers",) for run in landing.list_runs(s)
                 for _, recs in landing.iter_pages(s, run) for r in recs]
    assert str(s_ident.source_id) not in {str(r.get("id")) for r in store_raw}

    # the other person is untouched; order facts kept under the pseudonym
    assert any(other[0].email_norm in c for c in dump["customer_identities"])
    assert other[0].email_norm in ltext
    with warehouse.connect() as conn:
        after = {(r.source_system, r.order_id): r for r in conn.execute(select(S.orders))}
    assert {k: after[k].total_minor for k in orders_before} == orders_before  # totals kept for accounting
    assert all(after[k].email_norm is None and after[k].customer_id in (None, pseudo) for k in orders_before)
    assert {k for k, r in after.items() if r.customer_id == pseudo} == set(_their_orders(warehouse, pseudo)) != set()
    with warehouse.connect() as conn:
        golden = conn.execute(select(S.customers).where(S.customers.c.customer_id == pseudo)).one()
        assert golden.erased_at == NOW and golden.email is None and golden.phone is None
        consents = {(r.channel, r.topic): r.status for r in conn.execute(
            select(S.consents).where(S.consents.c.customer_id == pseudo))}
        assert consents[("email", "all")] == consents[("sms", "all")] == "unsubscribed"
        assert set(consents.values()) == {"unsubscribed"}
        sup = {r.channel for r in conn.execute(select(S.suppressions).where(S.suppressions.c.customer_id == pseudo))}
        assert sup == {"email", "sms"}
        log_row = conn.execute(select(S.erasure_log).where(S.erasure_log.c.id == report.erasure_id)).one()
        assert log_row.requested_by == "dpo@test" and log_row.status == "erased"
        assert log_row.counts["customer_identities"] >= len(own)

    # the POS and the store show the opt-out (read back over HTTP); the records themselves still exist
    pos_now = PosCustomer.model_validate(pos.retrieve_customer(p_ident.source_id))
    assert pos_now.sms_opt_out is True and "email_opt_out: yes" in (pos_now.note or "")
    store_now = StoreCustomer.model_validate(store.call("GET", f"/customers/{s_ident.source_id}"))
    assert store_now.consent("email")[0] is True and store_now.consent("sms")[0] is True

    # loaders can recognise the erased person's records when the next extract reads them again
    with warehouse.connect() as conn:
        assert erased_values(conn, "pos", [p_ident.source_id, other[0].source_id]) == {p_ident.source_id}
        assert erased_values(conn, "store", [s_ident.source_id, other[1].source_id]) == {s_ident.source_id}
        assert erased_values(conn, "email", [email.upper(), other[0].email_norm]) == {email.upper()}

    # idempotent: a second run (by id or by email) finds nothing and changes nothing
    again = erase_customer(warehouse, landing, customer_id=cid, pos_client=pos, store_client=store,
                           requested_by="dpo@test", now=NOW)
    by_email = erase_customer(warehouse, landing, email=email.upper(), requested_by="dpo@test", now=NOW)
    assert again.status == by_email.status == "already_erased"
    assert again.landing_pages == 0
    dump2 = _dump(warehouse)
    assert {t: c for t, c in dump2.items() if t != "erasure_log"} == {t: c for t, c in dump.items()
                                                                       if t != "erasure_log"}


def test_erase_by_email_covers_guest_orders_and_cli(sqlite_warehouse, clients, tmp_path, monkeypatch, capsys):
    pos, store = clients
    S.metadata.create_all(sqlite_warehouse)
    landing = LandingZone.from_url(str(tmp_path / "landing"))
    _load(sqlite_warehouse, landing, pos, store)
    with sqlite_warehouse.connect() as conn:
        guest = conn.execute(select(S.orders.c.email_norm).where(
            S.orders.c.source_system == "store", S.orders.c.customer_source_id.is_(None),
            S.orders.c.email_norm.is_not(None)).limit(1)).scalar()
    if guest is None:
        pytest.skip("no guest order in the tiny world")
    monkeypatch.setenv("STOREFLOW_WAREHOUSE_URL", str(sqlite_warehouse.url))
    monkeypatch.setenv("STOREFLOW_LANDING_URL", str(tmp_path / "landing"))
    from storeflow.settings import get_settings

    get_settings.cache_clear()
    assert main(["export", "--email", guest]) == 0
    assert "export_uri" in json.loads(capsys.readouterr().out)
    assert main(["erase", "--email", guest, "--no-external", "--requested-by", "cli-test"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "erased" and out["counts"]["orders"] >= 1
    assert guest not in "\n".join(c for cells in _dump(sqlite_warehouse).values() for c in cells)
    assert guest not in _landing_text(landing)


def test_erasure_needs_the_pseudonym_secret(sqlite_warehouse, tmp_path, monkeypatch):
    monkeypatch.delenv("STOREFLOW_PSEUDONYM_SECRET")
    S.metadata.create_all(sqlite_warehouse)
    with pytest.raises(MissingSecret):
        erase_customer(sqlite_warehouse, None, customer_id="cus_x", requested_by="t")


def test_unknown_person_is_not_found_and_logged(sqlite_warehouse):
    S.metadata.create_all(sqlite_warehouse)
    report = erase_customer(sqlite_warehouse, None, email="nobody@example.com", requested_by="t", now=NOW)
    assert report.status == "not_found"
    with sqlite_warehouse.connect() as conn:
        row = conn.execute(select(S.erasure_log)).one()
    assert row.status == "not_found" and "nobody" not in json.dumps(dict(row._mapping), default=str)


def test_landing_pages_of_other_people_are_not_rewritten(tmp_path):
    from storeflow.privacy.scrub import Subject

    landing = LandingZone.from_url(str(tmp_path / "landing"))
    records = [{"id": "A1", "email_address": "ann@example.com", "given_name": "Ann"},
               {"id": "B2", "email_address": "bob@example.com", "given_name": "Bob"}]
    landing.write_page("pos_customers", "r", 1, records, NOW)
    landing.write_page("pos_customers", "r", 2, records[1:], NOW)
    subject = Subject(secret=b"k", pos_ids={"A1"}, emails={"ann@example.com"}, names={"Ann"})
    from storeflow.privacy.landing_scrub import rewrite_landing as _rewrite_landing

    assert _rewrite_landing(landing, subject, dry_run=False) == 1
    pages = [decode_page(landing.get_bytes(k)) for k in landing.list_keys("pos_customers")]
    assert pages[0][1] == records[1] and pages[1] == records[1:]
    assert pages[0][0]["email_address"] == "" and pages[0][0]["id"].startswith("anon_")


def test_cli_runs_as_a_module(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "STOREFLOW_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "STOREFLOW_LANDING_URL": str(tmp_path / "landing"), "STOREFLOW_PSEUDONYM_SECRET": "cli-secret-123456"}
    out = subprocess.run([sys.executable, "-m", "storeflow.privacy", "erase", "--email", "nobody@example.com",
                          "--no-external", "--requested-by", "cli"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["status"] == "not_found"
    bad = subprocess.run([sys.executable, "-m", "storeflow.privacy", "erase"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "--customer-id" in bad.stderr


# --- pure scrubbing rules ---------------------------------------------------------------------------------
def test_pseudonyms_are_stable_and_depend_on_the_secret():
    from storeflow.privacy.scrub import pseudonym

    assert pseudonym("pos", "X1", b"k1") == pseudonym("pos", "X1", b"k1")
    assert pseudonym("pos", "X1", b"k1") != pseudonym("pos", "X1", b"k2")
    assert pseudonym("pos", "X1", b"k1") != pseudonym("store", "X1", b"k1")


def test_scrub_keeps_non_personal_facts_and_other_people():
    from storeflow.privacy.scrub import Subject

    subject = Subject(secret=b"k", store_ids={"17"}, emails={"ann.lee@example.com"}, names={"Ann", "Lee"})
    order = {"id": 17, "customer_id": 17, "total": "12.50", "billing": {"first_name": "Ann", "last_name": "Lee",
             "email": "ann.lee@example.com", "phone": "+447700900111", "country": "GB"},
             "line_items": [{"id": 3, "sku": "SKU-17", "quantity": 17, "name": "Annual planner"}],
             "customer_note": "call Ann"}
    other = {"id": 18, "customer_id": 42, "billing": {"first_name": "Ann", "email": "ann@example.net"}}
    out = subject.scrub_json([order, other], system="store")
    mine = out[0]
    assert mine["id"] == 17 and mine["total"] == "12.50"  # the order's own id and money stay
    assert mine["customer_id"].startswith("anon_")
    assert mine["billing"] == {"first_name": "", "last_name": "", "email": "", "phone": "", "country": "GB"}
    assert mine["line_items"] == order["line_items"]  # SKU, quantity 17, product name "Annual …" untouched
    assert mine["customer_note"] == ""
    assert out[1] == other
    assert subject.replace_text("Ann wrote from ann.lee@example.com about the Annual planner", with_names=True) == (
        "[erased] wrote from [erased] about the Annual planner")


def test_failed_opt_out_leaves_storeflow_untouched_and_a_rerun_completes(sqlite_warehouse, clients, tmp_path):
    from storeflow.privacy.erasure import ErasureFailed

    pos, store = clients
    landing = LandingZone.from_url(str(tmp_path / "landing"))
    _load(sqlite_warehouse, landing, pos, store)
    [(p_ident, s_ident)] = _pick_people(sqlite_warehouse, pos, store, n=1, observable=False)
    cid = _golden(sqlite_warehouse, p_ident, s_ident)
    dead_pos = SquareClient("http://127.0.0.1:9", DEMO_POS_TOKEN, max_attempts=1, timeout=1)
    with pytest.raises(ErasureFailed):
        erase_customer(sqlite_warehouse, landing, customer_id=cid, pos_client=dead_pos, store_client=store,
                       requested_by="t", now=NOW)
    assert p_ident.email_norm in "\n".join(_dump(sqlite_warehouse)["customer_identities"])
    assert p_ident.email_norm in _landing_text(landing).lower()
    report = erase_customer(sqlite_warehouse, landing, customer_id=cid, pos_client=pos, store_client=store,
                            requested_by="t", now=NOW)
    assert report.status == "erased"
    with sqlite_warehouse.connect() as conn:
        assert [r.status for r in conn.execute(select(S.erasure_log).order_by(S.erasure_log.c.id))] == [
            "failed", "erased"]
    assert p_ident.email_norm not in "\n".join(c for cells in _dump(sqlite_warehouse).values() for c in cells)
