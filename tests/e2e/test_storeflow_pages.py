"""storeflow's pages in the Airflow UI (issue 14): sync health, quarantine browser, reports, per-run view.

Fast part: the read models of :mod:`storeflow.ui_data` on a real SQLite warehouse, the reports listing on
S3 (moto over HTTP), masking of personal fields. Slow part: the session's real Airflow api-server
(``airflow_ui`` in ``conftest.py``) serves the plugin over a warehouse filled by the real sync code
against the simulators (a bad phone number arrives in a one-row incremental batch), and headless
Chromium opens every page; screenshots are kept in ``data/ui-screenshots/`` (and, with
``STOREFLOW_UPDATE_SCREENSHOTS=1``, copied to ``docs/screenshots/`` for the README). A login check runs
Airflow's real auth manager in front of the app.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update

from scripts.airflow_env import ROOT, airflow_env
from tests.e2e.conftest import chromium, png_stats

SCREENSHOTS = ROOT / "data" / "ui-screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


# --- read models (fast) -------------------------------------------------------------------------
def _run(engine, stream, status, *, at, rows=0, changed=0, pushed=0, quarantined=0, details=None, error=None,
         run_id="r1", dag_id="sync_customers", task_id=None):
    from storeflow.warehouse.runs import RunRecord, finish_run, start_run
    from storeflow.warehouse.schema import sync_runs

    record = start_run(engine, RunRecord(stream=stream, source_system="store", run_id=run_id, dag_id=dag_id,
                                         task_id=task_id or f"extract_{stream}", started_at=at))
    record.rows_read, record.rows_changed, record.rows_pushed, record.quarantined = rows, changed, pushed, quarantined
    record.details = details or {}
    finish_run(engine, record, status, error)
    with engine.begin() as conn:  # the run finished at ``at`` (finish_run stamps the wall clock)
        conn.execute(update(sync_runs).where(sync_runs.c.id == record.id).values(finished_at=at))
    return record


def test_sync_health_counts_verdicts_and_incidents(sqlite_warehouse):
    from storeflow.alerts import Alert, raise_alert
    from storeflow.quality.quarantine import record
    from storeflow.ui_data import open_incidents, push_summary, sync_health
    from storeflow.warehouse.schema import push_state

    engine = sqlite_warehouse
    docs = "file:///x/landing/datadocs/customers/r2/store.html"
    _run(engine, "store_customers", "success", at=NOW - timedelta(hours=30), rows=9, run_id="r1")
    _run(engine, "store_customers", "success", at=NOW - timedelta(hours=3), rows=3, changed=2, quarantined=1,
         details={"dq": {"data_docs": docs}}, run_id="r2")
    _run(engine, "pos_orders", "success", at=NOW - timedelta(hours=5), rows=7, run_id="r3", dag_id="sync_orders")
    _run(engine, "pos_orders", "failed", at=NOW - timedelta(minutes=20), error="ConnectionError: x@y.com down",
         run_id="r4", dag_id="sync_orders")
    _run(engine, "store_catalog_push", "success", at=NOW - timedelta(minutes=30), rows=5, changed=2, pushed=2,
         details={"errors": 1}, run_id="r5", dag_id="sync_catalog", task_id="push_store_catalog")
    with engine.begin() as conn:
        record(conn, stream="store_customers", source_system="store", source_id="7", rule="phone_unparseable",
               reason="phone 'n/a' contains letters", payload={"phone": "n/a"}, run_id="r2")
        conn.execute(push_state.insert(), [
            {"target_system": "store", "entity": "customer", "key": str(i), "payload": {}, "pushed_at": NOW,
             "run_id": "r5"} for i in range(3)])
    raise_alert(engine, Alert(key="sync_orders.extract_pos_orders", kind="sync_failure", title="pos_orders failed"),
                [], now=NOW)
    raise_alert(engine, Alert(key="freshness.pos_orders", kind="freshness", title="pos_orders stale"), [], now=NOW)

    health = {h.stream: h for h in sync_health(engine, now=NOW)}
    customers = health["store_customers"]
    assert (customers.rows, customers.changed, customers.quarantined, customers.quarantine_open) == (3, 2, 1, 1)
    assert customers.freshness == "fresh" and customers.last_success == NOW - timedelta(hours=3)
    assert customers.data_docs_key == "datadocs/customers/r2/store.html" and not customers.incidents
    orders = health["pos_orders"]  # failed last, succeeded 5 h ago: hourly → limit 2 h → stale
    assert (orders.last_status, orders.errors, orders.freshness) == ("failed", 1, "stale")
    assert orders.last_error.startswith("ConnectionError: ") and "x@y.com" not in orders.last_error
    assert sorted(i.key for i in orders.incidents) == ["freshness.pos_orders", "sync_orders.extract_pos_orders"]
    push = health["store_catalog_push"]
    assert (push.pushed, push.errors, push.freshness) == (2, 1, "fresh")
    assert health["pos_catalog"].freshness == "never" and health["pos_catalog"].last_status is None
    assert len(open_incidents(engine)) == 2
    assert push_summary(engine) == [{"target_system": "store", "entity": "customer", "records": 3,
                                     "last_pushed_at": NOW}]


def test_quarantine_filters_and_masks_personal_fields(sqlite_warehouse):
    from storeflow.quality.quarantine import record
    from storeflow.ui_data import quarantine_page
    from storeflow.warehouse.schema import quarantine

    engine = sqlite_warehouse
    person = {"email": "jane.doe@example.org", "phone": "+447700900123", "given_name": "Jane",
              "family_name": "Doe", "billing": {"address_1": "1 High St", "city": "Leeds"}, "country": "GB",
              "note": "call +447700900999 or mail j@x.io"}
    with engine.begin() as conn:
        record(conn, stream="store_customers", source_system="store", source_id="41", rule="email_invalid",
               reason="email 'jane.doe@example.org.' is not a valid address", payload={**person,
               "email": "jane.doe@example.org."}, run_id="run-a")
        record(conn, stream="store_customers", source_system="store", source_id="42", rule="phone_unparseable",
               reason="phone 'ring me' contains letters", payload={**person, "phone": "ring me"}, run_id="run-b")
        record(conn, stream="pos_customers", source_system="pos", source_id="P1", rule="phone_unparseable",
               reason="phone 'n/a' contains letters", payload={"phone": "n/a"}, run_id="run-b")
        conn.execute(update(quarantine).where(quarantine.c.source_id == "P1").values(resolved_at=NOW))

    everything = quarantine_page(engine)
    assert everything.total == 3 and everything.streams == ["pos_customers", "store_customers"]
    assert everything.rules == ["email_invalid", "phone_unparseable"] and set(everything.runs) == {"run-a", "run-b"}
    page = quarantine_page(engine, stream="store_customers", rule="phone_unparseable")
    assert [(r.source_id, r.status) for r in page.rows] == [("42", "open")]
    assert [r.source_id for r in quarantine_page(engine, run_id="run-b", status="resolved").rows] == ["P1"]
    assert [r.source_id for r in quarantine_page(engine, status="open").rows] == ["42", "41"]

    shown = json.dumps([(r.reason, r.payload) for r in everything.rows])
    for secret in ("jane.doe", "+447700900123", "Jane", "Doe", "High St", "Leeds", "+447700900999", "j@x.io",
                   "ring me"):
        assert secret not in shown, secret
    bad_email = next(r for r in everything.rows if r.rule == "email_invalid")
    assert bad_email.reason == "email 'ja***' is not a valid address" and bad_email.payload["country"] == "GB"
    assert bad_email.payload["billing"]["city"] == "Le***"


@pytest.fixture
def s3_landing(tmp_path, monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    from storeflow.landing import LandingZone

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
                       "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="reports")
    yield LandingZone.from_url("s3://reports/zone", endpoint_url=endpoint)
    server.stop()


def test_reports_listing_and_serving_from_s3(s3_landing):
    from storeflow.quality.datadocs import docs_key
    from storeflow.ui_data import landing_key, list_reports, read_report

    zone = s3_landing
    for version in ("20260530T043000Z-aaaa", "20260531T043000Z-bbbb"):
        zone.put_bytes(f"reports/scoring/{version}/index.html", f"<h1>Scoring report {version}</h1>".encode())
    zone.put_bytes("reports/campaigns/2026-05-31/index.html", b"<h1>Campaign uplift</h1>")
    docs = zone.put_bytes(docs_key("customers", "scheduled__2026-05-31T02:00:00+00:00", "store"), b"<h2>DQ</h2>")
    zone.put_bytes(docs_key("orders", "manual__x", "pos"), b"<h2>DQ</h2>")
    zone.write_page("store_customers", "run", 1, [{"email": "a@b.co"}], NOW)

    found = list_reports(zone)
    assert found.latest_scoring.label == "20260531T043000Z-bbbb"
    assert found.latest_scoring.uri == "s3://reports/zone/reports/scoring/20260531T043000Z-bbbb/index.html"
    assert [r.label for r in found.scoring] == ["20260531T043000Z-bbbb", "20260530T043000Z-aaaa"]
    assert found.latest_campaigns.key == "reports/campaigns/2026-05-31/index.html"
    assert {(d.stream, d.run) for d in found.datadocs} == {("customers", "scheduled__2026-05-31T02_00_00_00_00"),
                                                          ("orders", "manual__x")}
    one_run = list_reports(zone, run_id="scheduled__2026-05-31T02:00:00+00:00")
    assert [d.key for d in one_run.datadocs] == [landing_key(docs)]

    data, ctype = read_report(zone, found.latest_scoring.key)
    assert data == b"<h1>Scoring report 20260531T043000Z-bbbb</h1>" and ctype == "text/html; charset=utf-8"
    raw_page = zone.list_keys("store_customers")[0]
    for forbidden in (raw_page, "reports/../store_customers/x", "/etc/passwd", "reports/scoring/nope/index.html"):
        with pytest.raises(FileNotFoundError):
            read_report(zone, forbidden)


def test_run_view_accepts_the_landing_zone_run_id(sqlite_warehouse, tmp_path):
    from storeflow.landing import LandingZone, sanitise_run_id
    from storeflow.quality.datadocs import docs_key
    from storeflow.ui_data import run_view

    engine, zone = sqlite_warehouse, LandingZone.from_url(str(tmp_path / "landing"))
    real = "scheduled__2026-06-01T02:00:00+00:00"
    _run(engine, "store_customers", "success", at=NOW, rows=4, quarantined=1, run_id=real)
    _run(engine, "pos_customers", "success", at=NOW, rows=9, run_id=real, dag_id="other_dag")
    _run(engine, "store_customers", "success", at=NOW, rows=5, run_id="scheduled__2026-06-01T02_00_00_00_00x")
    zone.put_bytes(docs_key("customers", real, "store"), b"<h2>DQ</h2>")

    for asked in (real, sanitise_run_id(real)):
        view = run_view(engine, zone, asked, dag_id="sync_customers")
        assert view.run_id == real
        assert [(r["stream"], r["rows"], r["quarantined"]) for r in view.runs] == [("store_customers", 4, 1)]
        assert [d.stream for d in view.reports.datadocs] == ["customers"]
    assert len(run_view(engine, zone, sanitise_run_id(real)).runs) == 2  # both DAGs' records of that run id
    assert run_view(engine, zone, "nothing_here").runs == []


def test_landing_key_finds_the_servable_part_of_a_location():
    from storeflow.ui_data import landing_key

    assert landing_key("file:///srv/reports/landing/datadocs/a/b/c.html") == "datadocs/a/b/c.html"
    assert landing_key("s3://b/p/reports/scoring/v/index.html") == "reports/scoring/v/index.html"
    assert landing_key("s3://b/p/store_orders/2026/01/01/r/page-00001.jsonl.gz") is None
    assert landing_key(None) is None


# --- the pages in a real Airflow, through Chromium (slow) ---------------------------------------
class Rows(HTMLParser):
    """The text of every ``<tr>`` of the table with id ``table_id``, cell by cell."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.rows, self._depth, self._cell = table_id, [], 0, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id") == self.table_id:
            self._depth = 1
        elif self._depth and tag == "tr":
            self.rows.append([])
        elif self._depth and tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if self._depth and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._depth:
            self._depth = 0


def table(dom: str, table_id: str) -> list[list[str]]:
    parser = Rows(table_id)
    parser.feed(dom)
    return parser.rows


BAD_PHONE = "ring me on tuesday"
SMALL_RUN = "manual__storeflow-pages-check"


@pytest.fixture(scope="session")
def storeflow_world(airflow_ui_started):
    """The Airflow UI's warehouse and landing zone filled by the real sync, scoring and measurement code."""
    from storeflow.campaigns.measurement import measure_campaigns
    from storeflow.landing import LandingZone
    from storeflow.scoring.pipeline import fit_models, publish_scores, score_partition, write_report
    from storeflow.sync.extract import run_stream
    from storeflow.sync.freshness import check_freshness
    from storeflow.sync.registry import get_stream
    from storeflow.warehouse import schema as s
    from storeflow.warehouse.db import connect_warehouse
    from storeflow_simulators.cluster import SimulatorCluster
    from tests.e2e.pipeline import Pipeline

    data_dir = airflow_ui_started.data_dir
    engine = connect_warehouse(f"sqlite:///{data_dir / 'warehouse.db'}")
    landing = LandingZone.from_url(str(data_dir / "landing"))
    ports = {"pos": 0, "store": 0, "sms": 0, "smtp": 0, "smtp_api": 0}
    with SimulatorCluster(seed=7, scale="tiny", ports=ports) as sims:
        pipe = Pipeline(engine, sims.pos_url, sims.store_url)
        pipe.landing = landing
        pipe.extract("pos_customers", "store_customers", "pos_orders", "store_orders", full=True)
        with engine.connect() as conn:
            victim = conn.execute(select(s.customer_identities.c.source_id).where(
                s.customer_identities.c.source_system == "store").order_by(s.customer_identities.c.source_id)
            ).scalars().first()
        pipe.store.update_customer(int(victim), {"billing": {"phone": BAD_PHONE}})
        # the nightly DAG's task, as it runs it: the bad phone arrives in a small incremental batch
        small = run_stream(engine, landing, pipe.store, get_stream("store_customers"), run_id=SMALL_RUN,
                           dag_id="sync_customers", task_id="extract_store_customers")
    now = datetime.now(UTC)
    model = fit_models(engine, now)
    for part in range(2):
        score_partition(engine, model.model_version, now, part, 2)
    publish_scores(engine, model.model_version, now)
    scoring_uri = write_report(engine, model.model_version, landing)
    uplift_uri = measure_campaigns(engine, now, landing)["report"]
    check_freshness(engine, [], now=now + timedelta(hours=5))  # hourly streams go stale: incidents open
    with engine.connect() as conn:
        bad = conn.execute(select(s.quarantine).where(s.quarantine.c.source_id == str(victim),
                                                      s.quarantine.c.stream == "store_customers")).one()
        small_run = conn.execute(select(s.sync_runs).where(s.sync_runs.c.stream == "store_customers")
                                 .order_by(s.sync_runs.c.id.desc()).limit(1)).one()
    assert 1 <= small["rows_read"] <= 3, small  # the bad value really arrived in a small incremental batch
    yield {"engine": engine, "landing": landing, "bad": bad, "small_run": small_run, "model": model,
           "scoring_uri": scoring_uri, "uplift_uri": uplift_uri}
    engine.dispose()


def _dom(url: str, profile: Path) -> str:
    run = chromium(url, profile, "--dump-dom")
    assert run.returncode == 0, run.stderr.decode()[-1500:]
    return run.stdout.decode("utf-8", errors="replace")


def _dom_and_screenshot(url: str, tmp_path: Path, name: str) -> str:
    """One Chromium run: the rendered DOM, and a screenshot kept in data/ui-screenshots (and docs/)."""
    shot = tmp_path / f"{name}.png"
    run = chromium(url, tmp_path / f"chromium-{name}", "--dump-dom", f"--screenshot={shot}")
    assert run.returncode == 0 and shot.exists(), f"no screenshot of {url}: {run.stderr.decode()[-1500:]}"
    width, height, distinct = png_stats(shot)
    assert (width, height) == (1600, 2400) and distinct > 100, f"{name}: the screenshot is (nearly) blank"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOTS / shot.name)
    if os.environ.get("STOREFLOW_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOTS / shot.name)
    return run.stdout.decode("utf-8", errors="replace")


@pytest.mark.slow
@pytest.mark.airflow
def test_storeflow_pages_in_the_airflow_ui(airflow_ui_started, storeflow_world, airflow_ui, tmp_path):
    from storeflow.ui_data import landing_key, sync_health

    base, world = airflow_ui.base, storeflow_world
    token = requests.get(f"{base}/auth/token", timeout=10).json()["access_token"]
    plugins = requests.get(f"{base}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    ours = [p for p in plugins.json()["plugins"] if p["name"] == "storeflow_ui"]
    assert ours and ours[0]["fastapi_apps"][0]["url_prefix"] == "/storeflow", plugins.text[:2000]
    assert {v["url_route"] for v in ours[0]["external_views"]} >= {"storeflow-health", "storeflow-quarantine",
                                                                   "storeflow-reports", "storeflow-run"}

    # sync health: one row per stream with the counts the warehouse holds, verdicts and open incidents
    dom = _dom(f"{base}/storeflow/health", tmp_path / "c-health")
    rows = {r[0]: r for r in table(dom, "streams")[1:]}
    expected = {h.stream: h for h in sync_health(world["engine"])}["store_customers"]
    customers = rows.get("store_customers")
    assert customers, f"no store_customers row in the health page:\n{dom[:3000]}\n{airflow_ui.log_tail()}"
    assert customers[5:10] == [str(expected.rows), str(expected.changed), str(expected.pushed),
                               str(expected.errors), str(expected.quarantined)]
    assert customers[10] == str(expected.quarantine_open) and expected.quarantine_open >= 1
    assert customers[2].startswith("fresh") and "Data Docs" in customers[11]
    assert "storeflow stream pos_orders is stale" in rows["pos_orders"][12]
    assert any("freshness.pos_orders" in r[0] for r in table(dom, "incidents")[1:])

    # quarantine browser: the bad phone's row, filtered by stream + rule + run, reason shown, value masked
    bad = world["bad"]
    url = (f"{base}/storeflow/quarantine?stream=store_customers&rule={bad.rule}"
           f"&run_id={requests.utils.quote(bad.run_id)}&status=open")
    dom = _dom(url, tmp_path / "c-quarantine")
    found = [r for r in table(dom, "quarantine")[1:] if r[1] == bad.source_id]
    assert found, dom[:3000]
    assert found[0][2] == "phone_unparseable" and found[0][3] == "phone 'ri***' contains letters"
    assert found[0][4] == bad.run_id and found[0][6] == "open"
    assert BAD_PHONE not in dom and (bad.payload.get("email") or "@") not in dom
    assert all(r[0].startswith("store_customers") for r in table(dom, "quarantine")[1:])

    # reports: latest scoring and uplift reports and every run's Data Docs, served from the landing zone
    dom = _dom(f"{base}/storeflow/reports", tmp_path / "c-reports")
    scoring_key = landing_key(world["scoring_uri"])
    assert f'href="/storeflow/reports/view/{scoring_key}"' in dom and world["model"].model_version in dom
    assert f"/storeflow/reports/view/{landing_key(world['uplift_uri'])}" in dom
    assert any(r[0] == bad.run_id.replace(":", "_").replace("+", "_") for r in table(dom, "datadocs")[1:])
    report = _dom(f"{base}/storeflow/reports/view/{scoring_key}", tmp_path / "c-scoring")
    assert re.search(rf"<h1>Scoring report {re.escape(world['model'].model_version)}</h1>", report)
    latest = requests.get(f"{base}/storeflow/reports/latest/campaigns", timeout=10)
    assert latest.status_code == 200 and "<h1>Campaign uplift" in latest.text
    assert requests.get(f"{base}/storeflow/reports/view/pos_orders/x", timeout=10).status_code == 404

    # the per-DAG-run view (the "storeflow" tab of a DAG run): its counts and its Data Docs
    small = world["small_run"]
    assert small.run_id == SMALL_RUN and small.dag_id == "sync_customers"
    dom = _dom(f"{base}/storeflow/runs?dag_id=sync_customers&run_id={SMALL_RUN}", tmp_path / "c-run")
    run_rows = table(dom, "run-streams")[1:]
    assert run_rows and run_rows[0][0] == "store_customers" and run_rows[0][3] == str(small.rows_read)
    assert run_rows[0][7] == str(small.quarantined)
    assert re.search(r">\s*1 record\(s\) quarantined in this run\s*<", dom), dom[-3000:]
    assert "/storeflow/reports/view/datadocs/customers/" in dom

    # inside Airflow: the DAG run's "storeflow" tab frames that run's page
    created = requests.post(f"{base}/api/v2/dags/sync_customers/dagRuns", json={"dag_run_id": SMALL_RUN,
                            "logical_date": None}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert created.status_code in (200, 409), created.text[:1000]
    tab = f"{base}/dags/sync_customers/runs/{SMALL_RUN}/plugin/storeflow-run"
    shell = _dom_and_screenshot(tab, tmp_path, "storeflow-run")
    assert re.search(rf'<iframe[^>]+src="[^"]*/storeflow/runs\?dag_id=sync_customers&amp;run_id={SMALL_RUN}"',
                     shell), shell[-3000:]

    # inside Airflow: the navigation entries open the pages in Airflow's own frame
    for route, page in (("storeflow-health", "health"), ("storeflow-quarantine", "quarantine"),
                        ("storeflow-reports", "reports")):
        shell = _dom_and_screenshot(f"{base}/plugin/{route}", tmp_path, f"storeflow-{page}")
        assert re.search(rf'<iframe[^>]+src="[^"]*/storeflow/{page}"', shell), shell[-3000:]


@pytest.mark.slow
@pytest.mark.airflow
def test_pages_need_an_airflow_login(airflow_home, tmp_path):
    """Airflow's own auth (SimpleAuthManager, users required) guards the app: no session → login page."""
    env = airflow_env(airflow_home, {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                             "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "alice:admin",
                             "STOREFLOW_DATA_DIR": str(tmp_path / "data")})
    probe = r"""
import json, sys
from fastapi import FastAPI
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import init_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from storeflow_airflow.ui.app import app

root = FastAPI()
manager = init_auth_manager(root)
root.mount("/storeflow", app)
client = TestClient(root)
anonymous = client.get("/storeflow/health", follow_redirects=False)
forged = client.get("/storeflow/health", follow_redirects=False, cookies={"_token": "not-a-jwt"})
token = manager.generate_jwt(SimpleAuthManagerUser(username="alice", role="admin"))
cookie = client.get("/storeflow/quarantine", cookies={"_token": token})
# a connection made in the UI (metadata DB) points the pages at another landing zone
from airflow.models.connection import Connection
from airflow.utils.session import create_session
from storeflow.landing import LandingZone
LandingZone.from_url(sys.argv[1]).put_bytes("reports/scoring/20260601T000000Z-ui/index.html", b"<h1>x</h1>")
with create_session() as session:
    session.add(Connection(conn_id="storeflow_landing", conn_type="generic", extra=json.dumps({"url": sys.argv[1]})))
try:
    bearer = client.get("/storeflow/reports", headers={"Authorization": "Bearer " + token})
finally:
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == "storeflow_landing").delete()
print(json.dumps({"anonymous": [anonymous.status_code, anonymous.headers.get("location")],
                  "forged": [forged.status_code, forged.headers.get("location")],
                  "cookie": [cookie.status_code, "<h1>Quarantine</h1>" in cookie.text],
                  "bearer": [bearer.status_code, "<h1>Reports</h1>" in bearer.text,
                             "20260601T000000Z-ui" in bearer.text]}))
"""
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "ui-landing")], env=env, capture_output=True,
                         text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["anonymous"][0] == 303 and result["anonymous"][1].startswith("/auth/login?next="), result
    assert "%2Fstoreflow%2Fhealth" in result["anonymous"][1]
    assert result["forged"][0] == 303, result
    assert result["cookie"] == [200, True] and result["bearer"] == [200, True, True], result
    assert time.monotonic() - started < 60
