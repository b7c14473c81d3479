"""Square conformance: the POS simulator and the Square connector judged by Square's own OpenAPI spec.

Every request the connector sends (captured from ``requests``' response hook after a real HTTP round
trip to the simulator) is checked against the operation it calls: documented path and method,
``Square-Version`` and bearer auth, declared query parameters with their types and enums, and the JSON
body against the request schema in *write* mode. Every response the simulator answers is checked
against the operation's response schema in *read* mode (error bodies too: Square's responses all carry
``errors``, whose ``code`` must be in the spec's ``ErrorCode`` enum). Objects may not carry properties
the spec does not declare.

The judge is Square's full ``api.json`` (``../shared/reference/square-openapi/api.json`` or
``$STOREFLOW_SQUARE_SPEC``); without it, the simulator's vendored subset (the same operations and
schemas, descriptions dropped) stands in. The world is the seeded ``small`` world (3,340 customers).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from storeflow.connectors.http import ApiError
from storeflow.connectors.square import SQUARE_VERSION, SquareClient
from storeflow_simulators import pos_spec
from storeflow_simulators.credentials import DEMO_POS_TOKEN
from storeflow_simulators.pos import PosState, create_pos_app
from storeflow_simulators.pos_common import parse_ts
from storeflow_simulators.seed import generate_world
from storeflow_simulators.serve import serve_in_thread

REPO = Path(__file__).resolve().parents[2]
FULL_SPEC = Path(os.environ.get("STOREFLOW_SQUARE_SPEC")
                 or REPO.parent / "shared" / "reference" / "square-openapi" / "api.json")
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


# --- the judge -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raw_spec() -> dict[str, Any]:
    if FULL_SPEC.exists():
        return json.loads(FULL_SPEC.read_text(encoding="utf-8"))
    pkg = REPO / "include" / "storeflow_simulators" / pos_spec.SPEC_FILE
    return json.loads(pkg.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def judge(raw_spec) -> pos_spec.SquareSpec:
    return pos_spec.SquareSpec(raw_spec)


def pinned_version(raw_spec: dict[str, Any]) -> str:
    """The ``Square-Version`` the spec describes (its default)."""
    for header in raw_spec.get("x-fern-global-headers") or []:
        literal = re.search(r'"(\d{4}-\d{2}-\d{2})"', str(header.get("type", "")))
        if header.get("header") == "Square-Version" and literal:
            return literal.group(1)
    return SQUARE_VERSION


@dataclass
class Exchange:
    """One captured request/response pair."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int
    response: Any
    content_type: str


@dataclass
class Report:
    """Checks run and violations found."""

    checks: int = 0
    failed_checks: int = 0
    violations: list[str] = field(default_factory=list)

    def check(self, ok: bool, message: str) -> None:
        self.checks += 1
        if not ok:
            self.failed_checks += 1
            self.violations.append(message)

    def check_schema(self, name: str, found: list[str]) -> None:
        """One check; each schema error in ``found`` is one violation."""
        self.checks += 1
        if found:
            self.failed_checks += 1
            self.violations += [f"{name}: {line}" for line in found]


class Recorder:
    """A ``requests`` response hook keeping every exchange (the PreparedRequest as sent, the response)."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        req = response.request
        url = urlsplit(req.url or "")
        raw = req.body or b""
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        self.exchanges.append(Exchange(
            str(req.method), url.path, parse_qs(url.query, keep_blank_values=True), dict(req.headers), body,
            response.status_code, answer, response.headers.get("content-type", ""),
        ))

    def attach(self, client: SquareClient) -> None:
        client.session.hooks["response"].append(self)


def _violations(judge: pos_spec.SquareSpec, schema: str, instance: Any, mode: str) -> list[str]:
    out = []
    for err in judge.errors(schema, instance, mode=mode):
        inner = pos_spec.innermost(err)
        where = ".".join(str(p) for p in inner.absolute_path) or "(body)"
        out.append(f"{where}: {inner.message[:100]}")
    return out


def check_request(judge: pos_spec.SquareSpec, version: str, ex: Exchange, report: Report) -> None:
    """The connector's request against the operation's declared parameters, headers and request schema."""
    name = f"request {ex.method} {ex.path}"
    op = judge.find(ex.method, ex.path)
    report.check(op is not None, f"{name}: not an operation of Square's API")
    if op is None:
        return
    sent = ex.headers.get("Square-Version")
    report.check(sent == version, f"{name}: Square-Version {sent!r}, the spec describes {version!r}")
    report.check(str(ex.headers.get("Authorization", "")).startswith("Bearer "), f"{name}: no bearer token")
    declared = {p["name"] for p in op.parameters if p.get("in") == "query"}
    for key in ex.query:
        report.check(key in declared, f"{name}: query parameter {key!r} is not declared")
    problems = judge.param_errors(op, ex.query)
    report.check(not problems, f"{name}: query {problems}")
    if op.request_schema is None:
        report.check(ex.body in (None, ""), f"{name}: sends a body the operation does not take")
        return
    report.check(str(ex.headers.get("Content-Type", "")).startswith("application/json"),
                 f"{name}: Content-Type {ex.headers.get('Content-Type')!r}")
    report.check_schema(f"{name} ({op.request_schema})", _violations(judge, op.request_schema, ex.body, "write"))


def check_response(judge: pos_spec.SquareSpec, ex: Exchange, report: Report) -> None:
    """The simulator's response against the operation's response schema (errors included)."""
    name = f"response {ex.method} {ex.path} → {ex.status}"
    op = judge.find(ex.method, ex.path)
    if op is None or op.response_schema is None:
        return
    report.check(ex.content_type.startswith("application/json"), f"{name}: Content-Type {ex.content_type!r}")
    if ex.status < 400:
        report.check(ex.status == 200, f"{name}: the spec documents only 200 for success")
    else:
        errors = ex.response.get("errors") if isinstance(ex.response, dict) else None
        report.check(bool(errors), f"{name}: an error without Square's errors list")
    report.check_schema(f"{name} ({op.response_schema})", _violations(judge, op.response_schema, ex.response, "read"))


def summarise(lines: list[str]) -> list[tuple[str, int]]:
    """Violations grouped by shape (list indices and quoted values folded), most frequent first."""
    groups: dict[str, int] = {}
    for line in lines:
        line = re.sub(r"'[^']*' is not one of \[.*", "<value> is not in the enum", line)
        key = re.sub(r"\.\d+(?=[.:])", ".N", line)
        groups[key[:300]] = groups.get(key[:300], 0) + 1
    return sorted(groups.items(), key=lambda kv: -kv[1])


def judge_all(judge: pos_spec.SquareSpec, version: str, exchanges: list[Exchange]) -> Report:
    report = Report()
    for ex in exchanges:
        check_request(judge, version, ex, report)
        check_response(judge, ex, report)
    return report


# --- the scenario ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seeded_state() -> PosState:
    return PosState.from_world(generate_world(42, "small", now=NOW))


@pytest.fixture(scope="module")
def served(seeded_state):
    handle = serve_in_thread(create_pos_app(seeded_state))
    yield handle
    handle.stop()


def sim(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A test-only admin call (``/_sim``: not Square's API, not recorded)."""
    r = requests.post(url + path, json=body, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _first(pages) -> dict[str, Any]:
    return next(o for page in pages for o in page)


def run_scenario(client: SquareClient, url: str) -> list[str]:
    """Call every endpoint storeflow uses, through the connector's public methods; return failed steps."""
    failed: list[str] = []
    ctx: dict[str, Any] = {}
    durations: dict[str, float] = {}

    def step(name: str, fn) -> None:
        try:
            started = time.monotonic()
            fn()
            durations[name] = round(time.monotonic() - started, 2)
        except (ApiError, KeyError, StopIteration) as exc:
            failed.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")

    def locations() -> None:
        locs = client.list_locations_raw()
        ctx["loc"] = next(x["id"] for x in locs if x.get("status") == "ACTIVE")
        ctx["locs"] = [x["id"] for x in locs]

    def catalog_reads() -> None:
        listed = [o for page in client.list_catalog(("ITEM", "CATEGORY")) for o in page]
        item = next(o for o in listed if o["type"] == "ITEM" and o["item_data"].get("variations"))
        ctx["item"], ctx["var"] = item, item["item_data"]["variations"][0]
        list(client.search_catalog(None))
        list(client.search_catalog(NOW - timedelta(days=30), include_deleted=True))
        client.batch_retrieve_catalog([item["id"], ctx["var"]["id"]], include_related=True)

    def catalog_writes() -> None:
        new = {"type": "ITEM", "id": "#tea", "present_at_all_locations": True, "item_data": {
            "name": "Conformance tea", "variations": [{
                "type": "ITEM_VARIATION", "id": "#tea-reg", "present_at_all_locations": True,
                "item_variation_data": {"item_id": "#tea", "name": "Regular", "sku": "CONF-TEA-1",
                                        "pricing_type": "FIXED_PRICING",
                                        "price_money": {"amount": 450, "currency": "GBP"}}}]}}
        created = client.batch_upsert_catalog([new], key_prefix="conformance-new")
        tea_id = next(m["object_id"] for m in created[0]["id_mappings"] if m["client_object_id"] == "#tea")
        item = client.batch_retrieve_catalog([ctx["item"]["id"]])[0]
        # the merchant changes the price after we read the item: our upsert is stale and retried
        sim(url, "/_sim/price", {"variation_id": item["item_data"]["variations"][0]["id"], "amount": 1234})
        item["item_data"]["variations"][0]["item_variation_data"]["price_money"]["amount"] += 1
        client.batch_upsert_catalog([item], key_prefix="conformance-price")
        client.delete_catalog_objects([tea_id])

    def inventory() -> None:
        var, loc = ctx["var"]["id"], ctx["loc"]
        list(client.retrieve_inventory_counts(NOW - timedelta(days=400), [loc], states=["IN_STOCK"]))
        list(client.retrieve_inventory_counts(catalog_object_ids=[var]))
        ref = "conformance-sale-1"
        change = {"type": "ADJUSTMENT", "adjustment": {
            "catalog_object_id": var, "location_id": loc, "from_state": "IN_STOCK", "to_state": "SOLD",
            "quantity": "1", "reference_id": ref, "occurred_at": datetime.now(UTC).isoformat()}}
        count = {"type": "PHYSICAL_COUNT", "physical_count": {
            "catalog_object_id": var, "location_id": loc, "state": "IN_STOCK", "quantity": "40",
            "reference_id": "conformance-count-1", "occurred_at": datetime.now(UTC).isoformat()}}
        client.batch_change_inventory([change, count], "conformance")
        client.batch_change_inventory([change, count], "conformance")  # a retry: replayed
        list(client.inventory_changes([ref], NOW - timedelta(days=1), catalog_object_ids=[var],
                                      location_ids=[loc], types=["ADJUSTMENT", "PHYSICAL_COUNT"]))

    def orders() -> None:
        found = [o for page in client.search_orders(ctx["locs"], NOW - timedelta(days=3), NOW + timedelta(days=1),
                                                    states=["COMPLETED", "OPEN"]) for o in page]
        some = [o["id"] for o in found[:5]]
        client.batch_retrieve_orders(some)
        client.get_order(some[0])
        var = ctx["var"]["id"]
        order = client.create_order({"location_id": ctx["loc"], "reference_id": "conf-1", "metadata": {
            "storeflow_source": "store"}, "line_items": [{"catalog_object_id": var, "quantity": "1"}]}, "conf-order-1")
        updated = client.update_order(order["id"], {"reference_id": "conf-1b"}, order["version"])
        due = updated["net_amount_due_money"]
        client.pay_order_externally(order["id"], due["amount"], due["currency"], "conf-pay-1")
        ctx["order"] = order

    def customers() -> None:
        every = [c for page in client.list_customers(limit=100) for c in page]
        ctx["customer"] = every[0]
        next(iter(client.list_customers(limit=50, sort_field="CREATED_AT", sort_order="DESC")))  # one page
        list(client.search_customers(NOW - timedelta(days=30), NOW))
        with_email = next(c for c in every if c.get("email_address"))
        list(client.search_customers(email=with_email["email_address"].strip()))
        list(client.search_customers(reference_id="P0000001"))
        client.retrieve_customer(every[0]["id"])
        created = client.create_customer({"given_name": "Conor", "family_name": "Formance",
                                          "email_address": "conor@example.com",
                                          "address": {"address_line_1": "1 Spec Street", "locality": "Leeds",
                                                      "postal_code": "LS1 1AA", "country": "GB"}}, "conf-cust-1")
        client.update_customer(created["id"], {"nickname": "Con"}, version=created["version"])
        client.set_opt_out(created["id"], "sms", True)
        with pytest.raises(ApiError):  # a stale version: CONFLICT, as the spec lists it
            client.update_customer(created["id"], {"nickname": "Old"}, version=0)

    def invoices() -> None:
        loc = ctx["loc"]
        order = client.create_order({"location_id": loc, "customer_id": ctx["customer"]["id"], "line_items": [
            {"catalog_object_id": ctx["var"]["id"], "quantity": "1"}]}, "conf-inv-order")
        invoice = client.create_invoice({
            "location_id": loc, "order_id": order["id"], "delivery_method": "EMAIL",
            "primary_recipient": {"customer_id": ctx["customer"]["id"]},
            "payment_requests": [{"request_type": "BALANCE", "due_date": "2030-01-01"}],
            "accepted_payment_methods": {"card": True}}, "conf-inv-1")
        client.publish_invoice(invoice["id"], invoice["version"], "conf-pub-1")
        client.get_invoice(invoice["id"])
        list(client.list_invoices(loc))
        list(client.search_invoices(loc, ctx["customer"]["id"]))

    def not_found() -> None:
        with pytest.raises(ApiError):
            client.get_order("NO_SUCH_ORDER")

    for name, fn in [("locations", locations), ("catalog reads", catalog_reads),
                     ("catalog writes", catalog_writes), ("inventory", inventory), ("orders", orders),
                     ("customers", customers), ("invoices", invoices), ("not found", not_found)]:
        step(name, fn)
    print("scenario step seconds:", durations)
    return failed


@pytest.mark.slow  # ~15 s: every one of the 3,340 seeded customers is judged, among the rest
def test_connector_and_simulator_conform_to_squares_spec(judge, raw_spec, served, capsys):
    client = SquareClient(served.url, DEMO_POS_TOKEN, sleep=lambda s: None)
    recorder = Recorder()
    recorder.attach(client)
    failed = run_scenario(client, served.url)
    report = judge_all(judge, pinned_version(raw_spec), recorder.exchanges)
    used = {(ex.method, (judge.find(ex.method, ex.path) or ex).path) for ex in recorder.exchanges}
    with capsys.disabled():
        print(f"\nSquare conformance ({'full api.json' if FULL_SPEC.exists() else 'vendored subset'}): "
              f"{len(recorder.exchanges)} exchanges over {len(used)} operations, {report.checks} checks, "
              f"{report.failed_checks} failed, {len(report.violations)} violations, {len(failed)} failed steps")
        for line, n in summarise(failed + report.violations)[:40]:
            print(f"  - {n}x {line}")
    assert not failed
    assert report.violations == []
    # the simulator's fast path (jsonschema-rs) agrees with openapi-schema-validator on every body sent
    sim_spec = pos_spec.vendored_spec()
    for ex in recorder.exchanges:
        op = sim_spec.find(ex.method, ex.path)
        if op is not None and op.request_schema and isinstance(ex.body, dict):
            slow = sim_spec.errors(op.request_schema, ex.body, mode="lenient")
            assert sim_spec.quick_valid(op.request_schema, ex.body) == (not slow), (ex.method, ex.path)
    # the scenario reaches every endpoint the connector uses (its paths, f-string templates included)
    connector = (REPO / "include" / "storeflow" / "connectors" / "square.py").read_text()
    paths = set(re.findall(r'f?"(/v2/[^"]*)"', connector))
    assert paths and paths <= {p for _, p in used}, sorted(paths - {p for _, p in used})


def test_inventory_changes_come_back_oldest_first(served):
    client = SquareClient(served.url, DEMO_POS_TOKEN, sleep=lambda s: None)
    changes = [c for page in client.inventory_changes(None, NOW - timedelta(days=400), limit=50) for c in page]
    assert len(changes) > 100  # several pages

    def occurred(c: dict[str, Any]) -> datetime:
        return parse_ts((c.get("adjustment") or c.get("physical_count"))["occurred_at"])

    stamps = [occurred(c) for c in changes]
    assert stamps == sorted(stamps)


def test_seeded_pos_customers_carry_only_iso_countries(seeded_state, judge):
    countries = set(judge.schemas["Country"]["enum"])
    bad = [(cid, c["address"]["country"]) for cid, c in seeded_state.customers.items()
           if (c.get("address") or {}).get("country") not in countries | {None}]
    assert bad == []
    assert len({(c.get("address") or {}).get("country") for c in seeded_state.customers.values()}) >= 4


def test_vendored_subset_matches_squares_spec(raw_spec):
    """``square_spec.json`` is what ``scripts/vendor_square_spec.py`` makes of the full spec today."""
    if not FULL_SPEC.exists():
        pytest.skip("Square's full api.json is not available here")
    import importlib.util

    spec = importlib.util.spec_from_file_location("vendor_square_spec", REPO / "scripts" / "vendor_square_spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    expected = pos_spec.trim_spec(raw_spec, module.simulator_operations(raw_spec))
    vendored = json.loads((REPO / "include" / "storeflow_simulators" / pos_spec.SPEC_FILE).read_text())
    assert vendored == json.loads(json.dumps(expected))


# --- what the spec forbids, the simulator refuses ---------------------------------------------------
SAMPLE_LOC = "LOC1MAINSTREET"
LONG_KEY = "k" * 60  # CreatePayment's idempotency_key allows 45 characters
REFUSALS = [
    # (case, method, path, query, body, headers, code, field)
    ("unknown enum in a query list", "GET", "/v2/catalog/list", {"types": "ITEM,NOT_A_TYPE"}, None, {},
     "INVALID_ENUM_VALUE", "types"),
    ("wrong type", "POST", "/v2/catalog/search", None, {"include_deleted_objects": "yes"}, {},
     "EXPECTED_BOOLEAN", "include_deleted_objects"),
    ("unknown body field", "POST", "/v2/catalog/search", None, {"object_types": ["ITEM"], "colour": "red"}, {},
     "BAD_REQUEST", "colour"),
    ("too long", "POST", "/v2/payments", None, {"source_id": "EXTERNAL", "idempotency_key": LONG_KEY,
                                                 "amount_money": {"amount": 100, "currency": "GBP"}}, {},
     "VALUE_TOO_LONG", "idempotency_key"),
    ("malformed Square-Version", "GET", "/v2/locations", None, None, {"Square-Version": "20250820"},
     "INVALID_SQUARE_VERSION_FORMAT", "Square-Version"),
    ("impossible Square-Version date", "GET", "/v2/locations", None, None, {"Square-Version": "2025-13-45"},
     "INVALID_SQUARE_VERSION_FORMAT", "Square-Version"),
    ("country outside ISO 3166-1", "PUT", "/v2/customers/CUSTA", None, {"address": {"country": "U.K."}}, {},
     "INVALID_ENUM_VALUE", "address.country"),
    ("integer expected", "POST", "/v2/orders/search", None, {"location_ids": [SAMPLE_LOC], "limit": "ten"}, {},
     "EXPECTED_INTEGER", "limit"),
    ("integer query parameter", "GET", "/v2/customers", {"limit": "many"}, None, {}, "INVALID_VALUE", "limit"),
    ("required query parameter", "GET", "/v2/invoices", {}, None, {}, "MISSING_REQUIRED_PARAMETER", "location_id"),
    ("Order without location_id", "PUT", "/v2/orders/ORDERINSTORE0000", None, {"order": {"version": 1}}, {},
     "MISSING_REQUIRED_PARAMETER", "order.location_id"),
    ("nested enum", "POST", "/v2/inventory/changes/batch-create", None, {"idempotency_key": "e1", "changes": [
        {"type": "TELEPORT"}]}, {}, "INVALID_ENUM_VALUE", "changes.0.type"),
    ("array expected", "POST", "/v2/catalog/batch-upsert", None, {"idempotency_key": "a1", "batches": {}}, {},
     "EXPECTED_ARRAY", "batches"),
]


@pytest.fixture(scope="module")
def sample_served():
    from storeflow_simulators.pos_sample import sample_world

    state = PosState.from_world(sample_world(NOW))
    handle = serve_in_thread(create_pos_app(state))
    handle.state = state  # type: ignore[attr-defined]
    yield handle
    handle.stop()


def _call(url: str, method: str, path: str, query, body, headers) -> requests.Response:
    base = {"Authorization": f"Bearer {DEMO_POS_TOKEN}", "Square-Version": SQUARE_VERSION}
    return requests.request(method, url + path, params=query, json=body, headers={**base, **headers}, timeout=10)


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_simulator_refuses_what_the_spec_forbids(case, sample_served, judge):
    _, method, path, query, body, headers, code, field_name = case
    before = requests.get(sample_served.url + "/_sim/export", timeout=10).json()
    r = _call(sample_served.url, method, path, query, body, headers)
    assert r.status_code == 400, r.text
    error = r.json()["errors"][0]
    assert (error["category"], error["code"], error.get("field")) == ("INVALID_REQUEST_ERROR", code, field_name)
    op = judge.find(method, path)
    assert op is not None and _violations(judge, op.response_schema, r.json(), "read") == []
    after = requests.get(sample_served.url + "/_sim/export", timeout=10).json()
    for part in ("catalog", "customers", "orders", "payments", "changes", "invoices"):
        assert after.get(part) == before.get(part), part  # a refused request changes nothing


def test_what_the_spec_allows_is_accepted(sample_served):
    ok = [("GET", "/v2/catalog/list", {"types": "item,category"}, None, {}),  # case-insensitive list
          ("GET", "/v2/locations", None, None, {"Square-Version": "2024-01-18"}),  # an older, valid version
          ("POST", "/v2/catalog/search", None, {"object_types": ["ITEM"], "include_deleted_objects": True}, {})]
    for method, path, query, body, headers in ok:
        r = _call(sample_served.url, method, path, query, body, headers)
        assert r.status_code == 200, (path, r.text)
    no_version = requests.get(sample_served.url + "/v2/locations", timeout=10,
                              headers={"Authorization": f"Bearer {DEMO_POS_TOKEN}"})
    assert no_version.status_code == 200  # the header is optional (the app's default version applies)


@pytest.mark.parametrize("first_run", [True, False], ids=["full load", "hourly increment"])
def test_production_extract_requests_conform(first_run, sample_served, judge, raw_spec):
    """The requests storeflow's own POS extracts send (every stream's fetch, as the DAGs call it)."""
    from storeflow.sync.pos_streams import POS_STREAMS
    from storeflow.sync.streams import Window

    client = SquareClient(sample_served.url, DEMO_POS_TOKEN, sleep=lambda s: None)
    recorder = Recorder()
    recorder.attach(client)
    end = datetime.now(UTC)
    window = Window(None if first_run else end - timedelta(hours=1), end)
    for name, spec in POS_STREAMS.items():
        pages = list(spec.fetch(client, window))
        assert not first_run or pages or name == "pos_invoices", name  # a full load reads something
    report = judge_all(judge, pinned_version(raw_spec), recorder.exchanges)
    assert len(recorder.exchanges) >= len(POS_STREAMS)
    assert report.violations == [], summarise(report.violations)
