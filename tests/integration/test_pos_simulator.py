"""Contract tests of the Square-contract POS simulator, over real HTTP."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from storeflow_simulators.credentials import DEMO_POS_TOKEN
from storeflow_simulators.pos import PosState, create_pos_app
from storeflow_simulators.pos_common import UNAUTHORIZED_DETAIL, fmt_ts, parse_ts
from storeflow_simulators.pos_sample import sample_world
from storeflow_simulators.serve import serve_in_thread

NOW = datetime.now(UTC).replace(microsecond=0)
LOC1 = "LOC1MAINSTREET"
LOC2 = "LOC2STATION"


@pytest.fixture
def pos():
    state = PosState.from_world(sample_world(NOW))
    handle = serve_in_thread(create_pos_app(state))
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {DEMO_POS_TOKEN}", "Square-Version": "2025-08-20"})
    session.base = handle.url  # type: ignore[attr-defined]
    session.state = state  # type: ignore[attr-defined]
    yield session
    handle.stop()


def post(s, path, body, status=200):
    r = s.post(s.base + path, json=body)
    assert r.status_code == status, r.text
    return r.json()


def get(s, path, status=200, **params):
    r = s.get(s.base + path, params=params)
    assert r.status_code == status, r.text
    return r.json()


def occurred(minutes_ago: float = 1) -> str:
    return fmt_ts(datetime.now(UTC) - timedelta(minutes=minutes_ago), 3)


def sim_now(s) -> datetime:
    return parse_ts(get(s, "/_sim/state")["now"])


# --- auth and errors ------------------------------------------------------------------------------
def test_missing_or_wrong_token_gets_squares_401(pos):
    expected = {"errors": [{"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED", "detail": UNAUTHORIZED_DETAIL}]}
    r = requests.get(pos.base + "/v2/locations")
    assert r.status_code == 401 and r.json() == expected
    r = requests.get(pos.base + "/v2/locations", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json() == expected
    r = requests.get(pos.base + "/v2/locations", headers={"Authorization": DEMO_POS_TOKEN})  # no "Bearer"
    assert r.status_code == 401
    assert requests.get(pos.base + "/_sim/state").status_code == 200  # admin routes need no auth
    locations = get(pos, "/v2/locations")["locations"]
    assert [x["name"] for x in locations] == sorted(x["name"] for x in locations)
    assert {x["status"] for x in locations} == {"ACTIVE", "INACTIVE"}


def test_not_found_uses_square_error_shape(pos):
    body = get(pos, "/v2/orders/NOPE", status=404)
    assert body["errors"][0]["code"] == "NOT_FOUND"
    assert body["errors"][0]["category"] == "INVALID_REQUEST_ERROR"
    body = post(pos, "/v2/orders/search", {"location_ids": [LOC1], "cursor": "garbage"}, status=400)
    assert body["errors"][0]["code"] == "INVALID_CURSOR"


# --- catalog --------------------------------------------------------------------------------------
def _make_items(s, n: int, prefix: str = "bulk") -> dict[str, str]:
    objects = [{
        "type": "ITEM", "id": f"#{prefix}{i}",
        "item_data": {"name": f"{prefix} item {i}", "variations": [{
            "type": "ITEM_VARIATION", "id": f"#{prefix}v{i}",
            "item_variation_data": {"name": "Regular", "sku": f"{prefix.upper()}-{i:04d}",
                                    "price_money": {"amount": 100 + i, "currency": "GBP"}},
        }]},
    } for i in range(n)]
    body = post(s, "/v2/catalog/batch-upsert",
                {"idempotency_key": f"make-{prefix}-{n}", "batches": [{"objects": objects}]})
    return {m["client_object_id"]: m["object_id"] for m in body["id_mappings"]}


def test_list_catalog_pages_of_100_no_skips_no_duplicates_hides_deleted(pos):
    mapping = _make_items(pos, 230)
    deleted_item = mapping["#bulk7"]
    post(pos, "/_sim/delete", {"object_id": deleted_item})
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        body = get(pos, "/v2/catalog/list", types="ITEM", **({"cursor": cursor} if cursor else {}))
        pages += 1
        assert len(body["objects"]) <= 100
        seen += [o["id"] for o in body["objects"]]
        cursor = body.get("cursor")
        if not cursor:
            break
    assert pages == 3
    assert len(seen) == len(set(seen))
    expected = {v for k, v in mapping.items() if not k.startswith("#bulkv")} - {deleted_item}
    assert expected <= set(seen)
    assert deleted_item not in seen
    assert len(seen) == 230 - 1 + 6  # plus the six seeded items
    # nested variations come inside their item
    item = next(o for o in body["objects"] if o["type"] == "ITEM")
    assert item["item_data"]["variations"][0]["type"] == "ITEM_VARIATION"


def test_search_catalog_begin_time_is_exclusive_and_returns_latest_time(pos):
    var = post(pos, "/_sim/price", {"sku": "SKU-001-0", "amount": 1234})["object"]
    ts = parse_ts(var["updated_at"])
    body = post(pos, "/v2/catalog/search", {"object_types": ["ITEM_VARIATION"], "begin_time": var["updated_at"]})
    assert var["id"] not in [o["id"] for o in body["objects"]]
    assert parse_ts(body["latest_time"]) >= ts
    earlier = fmt_ts(ts - timedelta(microseconds=1), 6)
    body = post(pos, "/v2/catalog/search", {"object_types": ["ITEM_VARIATION"], "begin_time": earlier})
    found = [o for o in body["objects"] if o["id"] == var["id"]]
    assert found and found[0]["item_variation_data"]["price_money"]["amount"] == 1234
    assert found[0]["version"] > 0


def test_updates_sharing_one_timestamp_across_a_page_boundary(pos):
    at = NOW.replace(microsecond=0) + timedelta(seconds=1)
    post(pos, "/_sim/clock", {"freeze": True, "at": fmt_ts(at, 0)})
    skus = [f"SKU-{i:03d}-0" for i in range(5)]
    for n, sku in enumerate(skus):
        post(pos, "/_sim/price", {"sku": sku, "amount": 900 + n})
    post(pos, "/_sim/clock", {"freeze": False, "advance_seconds": 2})
    query = {"object_types": ["ITEM_VARIATION"], "limit": 2, "begin_time": fmt_ts(at - timedelta(seconds=1), 3)}
    # a run that reads only the first page, then stops, keeps the max updated_at it saw as its cursor
    first = post(pos, "/v2/catalog/search", query)
    assert len(first["objects"]) == 2 and first.get("cursor")
    cursor_at = max(parse_ts(o["updated_at"]) for o in first["objects"])
    assert cursor_at == at
    # without overlap the other three (same timestamp) are lost: begin_time is exclusive
    strict = post(pos, "/v2/catalog/search", {**query, "limit": 100, "begin_time": fmt_ts(cursor_at, 6)})
    assert not {o["id"] for o in strict["objects"]} & {o["id"] for o in first["objects"]}
    assert len(strict["objects"]) == 0
    # with the overlap rule (cursor minus overlap) and paging to the end, all five come back exactly once
    ids: list[str] = []
    body = {**query, "begin_time": fmt_ts(cursor_at - timedelta(minutes=5), 3)}
    while True:
        page = post(pos, "/v2/catalog/search", body)
        ids += [o["id"] for o in page["objects"]]
        if not page.get("cursor"):
            break
        body = {**body, "cursor": page["cursor"]}
    assert len(ids) == len(set(ids)) == 5


def test_cursor_is_bound_to_the_original_request(pos):
    first = post(pos, "/v2/catalog/search", {"object_types": ["ITEM_VARIATION"], "limit": 3})
    assert first.get("cursor")
    body = post(pos, "/v2/catalog/search", {"object_types": ["ITEM"], "limit": 3, "cursor": first["cursor"]},
                status=400)
    assert body["errors"][0]["code"] == "INVALID_CURSOR"


def test_search_catalog_ignores_out_of_range_limit_and_queries_by_sku_and_name(pos):
    body = post(pos, "/v2/catalog/search", {"object_types": ["ITEM_VARIATION"], "limit": 5000})
    assert len(body["objects"]) == 12
    body = post(pos, "/v2/catalog/search", {"object_types": ["ITEM_VARIATION"],
                                            "query": {"exact_query": {"attribute_name": "sku",
                                                                      "attribute_value": "SKU-002-1"}}})
    assert [o["item_variation_data"]["sku"] for o in body["objects"]] == ["SKU-002-1"]
    body = post(pos, "/v2/catalog/search", {"object_types": ["ITEM"],
                                            "query": {"prefix_query": {"attribute_name": "name",
                                                                       "attribute_prefix": "toner"}}})
    assert {o["item_data"]["name"] for o in body["objects"]} == {"Toner product 2", "Toner product 5"}
    body = post(pos, "/v2/catalog/search", {"object_types": ["ITEM"], "query": {"text_query": {"keywords": ["pet"]}}})
    assert len(body["objects"]) == 2


def test_deletes_are_tombstones_cascading_to_variations(pos):
    post(pos, "/v2/catalog/batch-delete", {"object_ids": ["ITEM002"]})
    live = post(pos, "/v2/catalog/search", {"object_types": ["ITEM", "ITEM_VARIATION"]})
    assert "ITEM002" not in {o["id"] for o in live["objects"]}
    with_deleted = post(pos, "/v2/catalog/search", {"object_types": ["ITEM", "ITEM_VARIATION"],
                                                    "include_deleted_objects": True})
    tomb = {o["id"]: o for o in with_deleted["objects"] if o.get("is_deleted")}
    assert set(tomb) == {"ITEM002", "VAR002X0", "VAR002X1", "VAR002X2"}
    assert len(tomb["ITEM002"]["item_data"]["variations"]) == 3
    r = pos.delete(pos.base + "/v2/catalog/object/ITEM002")
    assert r.status_code == 404


def test_batch_upsert_temp_ids_versions_and_atomicity(pos):
    body = post(pos, "/v2/catalog/batch-upsert", {"idempotency_key": "k1", "batches": [{"objects": [
        {"type": "CATEGORY", "id": "#cat", "category_data": {"name": "Tea"}},
        {"type": "ITEM", "id": "#tea", "item_data": {"name": "Green tea", "categories": [{"id": "#cat"}],
         "variations": [{"type": "ITEM_VARIATION", "id": "#tea-r", "item_variation_data": {
             "name": "Regular", "sku": "TEA-1", "price_money": {"amount": 350, "currency": "GBP"}}}]}},
    ]}]})
    ids = {m["client_object_id"]: m["object_id"] for m in body["id_mappings"]}
    assert set(ids) == {"#cat", "#tea", "#tea-r"} and not any(v.startswith("#") for v in ids.values())
    item = next(o for o in body["objects"] if o["type"] == "ITEM")
    assert item["item_data"]["categories"][0]["id"] == ids["#cat"]
    var = item["item_data"]["variations"][0]
    assert var["item_variation_data"]["item_id"] == ids["#tea"]

    def upsert_var(version, amount, key):
        obj = {"type": "ITEM_VARIATION", "id": var["id"], "item_variation_data": {
            "item_id": ids["#tea"], "name": "Regular", "sku": "TEA-1",
            "price_money": {"amount": amount, "currency": "GBP"}}}
        if version is not None:
            obj["version"] = version
        return pos.post(pos.base + "/v2/catalog/batch-upsert",
                        json={"idempotency_key": key, "batches": [{"objects": [obj]}]})

    r = upsert_var(var["version"], 400, "k2")
    assert r.status_code == 200
    new_version = r.json()["objects"][0]["version"]
    assert new_version > var["version"]
    r = upsert_var(var["version"], 450, "k3")  # stale: the spec's code for batch-upsert is CONFLICT
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "CONFLICT"
    r = upsert_var(None, 450, "k4")  # omitted version on an update
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "CONFLICT"
    pos.put(pos.base + "/_sim/config", json={"stale_version_code": "VERSION_MISMATCH"})  # the guides' code
    r = upsert_var(var["version"], 450, "k3b")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "VERSION_MISMATCH"
    # unknown non-# id → 400 (not 404)
    r = pos.post(pos.base + "/v2/catalog/batch-upsert", json={"idempotency_key": "k5", "batches": [{"objects": [
        {"type": "CATEGORY", "id": "NOSUCHID", "version": 1, "category_data": {"name": "x"}}]}]})
    assert r.status_code == 400
    # atomic: a good object and a stale one in one batch → nothing applied
    r = pos.post(pos.base + "/v2/catalog/batch-upsert", json={"idempotency_key": "k6", "batches": [{"objects": [
        {"type": "CATEGORY", "id": "#ok", "category_data": {"name": "Should not exist"}},
        {"type": "ITEM_VARIATION", "id": var["id"], "version": var["version"],
         "item_variation_data": {"item_id": ids["#tea"], "name": "R", "sku": "TEA-1"}},
    ]}]})
    assert r.status_code == 400
    names = [o["category_data"]["name"] for o in get(pos, "/v2/catalog/list", types="CATEGORY")["objects"]]
    assert "Should not exist" not in names
    current = post(pos, "/v2/catalog/batch-retrieve", {"object_ids": [var["id"]]})["objects"][0]
    assert current["item_variation_data"]["price_money"]["amount"] == 400


def test_catalog_write_lock_rejects_concurrent_writers_with_429(pos):
    r = pos.put(pos.base + "/_sim/config", json={"catalog_write_lock": True, "catalog_write_hold_seconds": 0.5})
    assert r.status_code == 200
    results: list[int] = []

    def write(n):
        r = pos.post(pos.base + "/v2/catalog/batch-upsert", json={"idempotency_key": f"lock{n}", "batches": [
            {"objects": [{"type": "CATEGORY", "id": f"#c{n}", "category_data": {"name": f"C{n}"}}]}]})
        results.append(r.status_code)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 429]


# --- inventory ------------------------------------------------------------------------------------
def _adjust(var="VAR000X0", qty="1", ref="web-1", loc=LOC1, frm="IN_STOCK", to="SOLD", when=None):
    return {"type": "ADJUSTMENT", "adjustment": {
        "catalog_object_id": var, "location_id": loc, "from_state": frm, "to_state": to, "quantity": qty,
        "occurred_at": when or occurred(), "reference_id": ref}}


def _count(s, var, loc=LOC1) -> str:
    counts = post(s, "/v2/inventory/counts/batch-retrieve", {"catalog_object_ids": [var], "location_ids": [loc],
                                                              "states": ["IN_STOCK"]})["counts"]
    return counts[0]["quantity"]


def test_batch_change_idempotency_replay_and_key_reuse(pos):
    before = int(_count(pos, "VAR000X0"))
    body = {"idempotency_key": "order-77-line-1", "changes": [_adjust(qty="2", ref="77")]}
    first = post(pos, "/v2/inventory/changes/batch-create", body)
    assert int(_count(pos, "VAR000X0")) == before - 2
    replay = post(pos, "/v2/inventory/changes/batch-create", body)
    assert replay == first
    assert int(_count(pos, "VAR000X0")) == before - 2  # applied exactly once
    other = {"idempotency_key": "order-77-line-1", "changes": [_adjust(qty="3", ref="77")]}
    err = post(pos, "/v2/inventory/changes/batch-create", other, status=400)
    assert err["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    missing = post(pos, "/v2/inventory/changes/batch-create", {"changes": [_adjust()]}, status=400)
    assert missing["errors"][0]["code"] == "MISSING_REQUIRED_PARAMETER"
    history = post(pos, "/v2/inventory/changes/batch-retrieve", {"catalog_object_ids": ["VAR000X0"],
                                                                  "types": ["ADJUSTMENT"]})["changes"]
    assert [c["adjustment"]["reference_id"] for c in history] == ["77"]
    # the deprecated path works too and shares the idempotency store
    assert post(pos, "/v2/inventory/batch-change", body) == first


def test_inventory_occurred_at_rules_cap_and_states(pos):
    future = fmt_ts(datetime.now(UTC) + timedelta(hours=1), 3)
    err = post(pos, "/v2/inventory/changes/batch-create",
               {"idempotency_key": "f", "changes": [_adjust(when=future)]}, status=400)
    assert "future" in err["errors"][0]["detail"]
    old = occurred(minutes_ago=25 * 60)
    err = post(pos, "/v2/inventory/changes/batch-create",
               {"idempotency_key": "o", "changes": [_adjust(when=old)]}, status=400)
    assert err["errors"][0]["field"].endswith("occurred_at")
    pos.put(pos.base + "/_sim/config", json={"inventory_max_age_hours": None})
    post(pos, "/v2/inventory/changes/batch-create", {"idempotency_key": "o2", "changes": [_adjust(when=old)]})
    too_many = [_adjust(ref=f"r{i}") for i in range(101)]
    err = post(pos, "/v2/inventory/changes/batch-create", {"idempotency_key": "cap", "changes": too_many}, status=400)
    assert err["errors"][0]["code"] == "ARRAY_LENGTH_TOO_LONG"
    err = post(pos, "/v2/inventory/changes/batch-create",
               {"idempotency_key": "ro", "changes": [_adjust(frm="IN_STOCK", to="SOLD_ONLINE")]}, status=400)
    assert err["errors"][0]["code"] == "INVALID_VALUE"
    # atomic: one bad change rejects the whole call
    before = _count(pos, "VAR001X0")
    post(pos, "/v2/inventory/changes/batch-create", {"idempotency_key": "atomic", "changes": [
        _adjust(var="VAR001X0"), _adjust(var="NOPE")]}, status=400)
    assert _count(pos, "VAR001X0") == before


def test_physical_count_adjustments_reversal_and_ignore_unchanged(pos):
    t0 = occurred(minutes_ago=30)
    post(pos, "/v2/inventory/changes/batch-create", {"idempotency_key": "pc", "changes": [
        {"type": "PHYSICAL_COUNT", "physical_count": {"catalog_object_id": "VAR003X0", "location_id": LOC1,
                                                      "state": "IN_STOCK", "quantity": "10", "occurred_at": t0}}]})
    assert _count(pos, "VAR003X0") == "10"
    post(pos, "/v2/inventory/changes/batch-create", {"idempotency_key": "sale", "changes": [
        _adjust(var="VAR003X0", qty="3", ref="w1")]})
    assert _count(pos, "VAR003X0") == "7"
    # reversal of the sale (order cancelled): NONE → IN_STOCK with a reference
    post(pos, "/v2/inventory/changes/batch-create", {"idempotency_key": "rev", "changes": [
        _adjust(var="VAR003X0", qty="3", ref="w1-reversal", frm="NONE", to="IN_STOCK")]})
    assert _count(pos, "VAR003X0") == "10"
    # a back-dated physical count does not wipe out later adjustments
    post(pos, "/v2/inventory/changes/batch-create", {"idempotency_key": "late-pc", "changes": [
        {"type": "PHYSICAL_COUNT", "physical_count": {"catalog_object_id": "VAR003X0", "location_id": LOC1,
                                                      "state": "IN_STOCK", "quantity": "20",
                                                      "occurred_at": occurred(minutes_ago=60)}}]})
    assert _count(pos, "VAR003X0") == "10"
    # unchanged counts are not recorded by default
    n_before = get(pos, "/_sim/state")["inventory_changes"]
    resp = post(pos, "/v2/inventory/changes/batch-create", {"idempotency_key": "same", "changes": [
        {"type": "PHYSICAL_COUNT", "physical_count": {"catalog_object_id": "VAR003X0", "location_id": LOC1,
                                                      "state": "IN_STOCK", "quantity": "10",
                                                      "occurred_at": occurred()}}]})
    assert resp["changes"] == [] and get(pos, "/_sim/state")["inventory_changes"] == n_before
    decimal = post(pos, "/v2/inventory/changes/batch-create", {"idempotency_key": "dec", "changes": [
        _adjust(var="VAR003X0", qty="1.5", ref="d")]})
    assert decimal["counts"][0]["quantity"] == "8.5"


def test_counts_sorted_desc_filtered_by_updated_after_and_paged(pos):
    all_counts: list[dict] = []
    body: dict = {"limit": 5}
    while True:
        page = post(pos, "/v2/inventory/counts/batch-retrieve", body)
        all_counts += page["counts"]
        if not page.get("cursor"):
            break
        body = {"limit": 5, "cursor": page["cursor"]}
    keys = [(c["catalog_object_id"], c["location_id"], c["state"]) for c in all_counts]
    assert len(keys) == len(set(keys)) == 24  # 12 variations x 2 active locations
    times = [parse_ts(c["calculated_at"]) for c in all_counts]
    assert times == sorted(times, reverse=True)
    assert "LOC3CLOSED" not in {c["location_id"] for c in all_counts}
    cut = times[10]
    newer = post(pos, "/v2/inventory/counts/batch-retrieve", {"updated_after": fmt_ts(cut, 6)})["counts"]
    assert all(parse_ts(c["calculated_at"]) > cut for c in newer) and len(newer) == 10
    assert post(pos, "/v2/inventory/batch-retrieve-counts", {"limit": 1000})["counts"] == all_counts


# --- orders ---------------------------------------------------------------------------------------
def test_search_orders_sort_filter_coupling_and_limits(pos):
    far = {"start_at": "2000-01-01T00:00:00Z"}
    err = post(pos, "/v2/orders/search", {"location_ids": [LOC1], "query": {
        "filter": {"date_time_filter": {"updated_at": far}}}}, status=400)  # default sort CREATED_AT
    assert err["errors"][0]["field"] == "query.sort.sort_field"
    err = post(pos, "/v2/orders/search", {"location_ids": [LOC1], "query": {
        "filter": {"date_time_filter": {"updated_at": far}}, "sort": {"sort_field": "CREATED_AT"}}}, status=400)
    assert err["errors"][0]["code"] == "INVALID_VALUE"
    err = post(pos, "/v2/orders/search", {"location_ids": [f"L{i}" for i in range(11)]}, status=400)
    assert err["errors"][0]["code"] == "ARRAY_LENGTH_TOO_LONG"
    # default sort: CREATED_AT DESC
    orders = post(pos, "/v2/orders/search", {"location_ids": [LOC1, LOC2]})["orders"]
    created = [parse_ts(o["created_at"]) for o in orders]
    assert len(orders) == 8 and created == sorted(created, reverse=True)
    # UPDATED_AT ASC with paging: no duplicates, no skips
    ids: list[str] = []
    body: dict = {"location_ids": [LOC1, LOC2], "limit": 3, "query": {
        "filter": {"date_time_filter": {"updated_at": far}}, "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}}}
    while True:
        page = post(pos, "/v2/orders/search", body)
        ids += [o["id"] for o in page["orders"]]
        if not page.get("cursor"):
            break
        body = {**body, "cursor": page["cursor"]}
    assert len(ids) == len(set(ids)) == 8
    entries = post(pos, "/v2/orders/search", {"location_ids": [LOC1], "return_entries": True})["order_entries"]
    assert entries and set(entries[0]) == {"order_id", "version", "location_id"}


def test_search_orders_ranges_are_inclusive(pos):
    order = post(pos, "/_sim/sales", {"location_id": LOC1, "lines": [{"sku": "SKU-000-0", "quantity": 1}]})
    at = order["updated_at"]
    body = {"location_ids": [LOC1], "query": {
        "filter": {"date_time_filter": {"updated_at": {"start_at": at, "end_at": at}}},
        "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}}}
    assert [o["id"] for o in post(pos, "/v2/orders/search", body)["orders"]] == [order["id"]]
    closed = {"location_ids": [LOC1], "query": {"filter": {"state_filter": {"states": ["OPEN"]}},
                                                "sort": {"sort_field": "CLOSED_AT"}}}
    assert post(pos, "/v2/orders/search", closed, status=400)["errors"][0]["code"] == "INVALID_VALUE"


def test_create_update_and_retrieve_orders(pos):
    body = {"idempotency_key": "web-1001", "order": {
        "location_id": LOC1, "reference_id": "1001", "customer_id": "CUSTA",
        "metadata": {"storeflow_source": "store"}, "source": {"name": "storeflow"},
        "line_items": [{"catalog_object_id": "VAR001X0", "quantity": "2"},
                       {"name": "Gift wrap", "quantity": "1", "base_price_money": {"amount": 150, "currency": "GBP"}}]}}
    order = post(pos, "/v2/orders", body)["order"]
    assert order["state"] == "OPEN" and order["version"] == 1
    assert order["total_money"] == {"amount": 2 * 749 + 150, "currency": "GBP"}
    assert order["line_items"][0]["name"] == "Pet food product 1"
    assert post(pos, "/v2/orders", body)["order"] == order  # idempotent replay
    assert get(pos, f"/v2/orders/{order['id']}")["order"] == order
    no_loc = pos.put(pos.base + f"/v2/orders/{order['id']}", json={"order": {"version": 1, "state": "COMPLETED"}})
    assert no_loc.status_code == 400 and no_loc.json()["errors"][0]["field"] == "order.location_id"  # required
    err = pos.put(pos.base + f"/v2/orders/{order['id']}",
                  json={"order": {"location_id": LOC1, "version": 7, "state": "COMPLETED"}})
    assert err.status_code == 400 and err.json()["errors"][0]["code"] == "CONFLICT"
    unpaid = pos.put(pos.base + f"/v2/orders/{order['id']}",
                     json={"order": {"location_id": LOC1, "version": 1, "state": "COMPLETED"}})
    assert unpaid.status_code == 400  # only fully paid orders complete
    assert post(pos, "/v2/orders", {"idempotency_key": "x", "order": {**body["order"], "state": "COMPLETED"}},
                status=400)["errors"][0]["field"] == "order.state"
    payment = post(pos, "/v2/payments", {"idempotency_key": "pay-1001", "source_id": "EXTERNAL",
                                         "order_id": order["id"], "amount_money": order["total_money"],
                                         "external_details": {"type": "OTHER", "source": "web"}})["payment"]
    assert payment["status"] == "COMPLETED"
    done = get(pos, f"/v2/orders/{order['id']}")["order"]
    assert done["state"] == "COMPLETED" and done["version"] == 2 and done["closed_at"] and done["tenders"]
    got = post(pos, "/v2/orders/batch-retrieve", {"order_ids": [order["id"], "NOPE"]})["orders"]
    assert [o["id"] for o in got] == [order["id"]]


# --- customers ------------------------------------------------------------------------------------
def test_customers_list_limits_sort_and_paging(pos):
    for limit, code in ((0, "VALUE_TOO_LOW"), (101, "VALUE_TOO_HIGH")):
        assert get(pos, "/v2/customers", status=400, limit=limit)["errors"][0]["code"] == code
    ids: list[str] = []
    params: dict = {"limit": 2, "sort_field": "CREATED_AT"}
    while True:
        page = get(pos, "/v2/customers", **params)
        ids += [c["id"] for c in page["customers"]]
        if not page.get("cursor"):
            break
        params = {**params, "cursor": page["cursor"]}
    assert sorted(ids) == ["CUSTA", "CUSTB", "CUSTC", "CUSTD", "CUSTE"] and len(ids) == 5
    bob = get(pos, "/v2/customers/CUSTB")["customer"]
    assert bob["email_address"] == " Bob.Stone@Example.COM "  # dirty values rendered as given
    assert get(pos, "/v2/customers/CUSTC")["customer"]["preferences"]["email_unsubscribed"] is True
    assert "sms_opt_out: yes" in get(pos, "/v2/customers/CUSTD")["customer"]["note"]
    err = post(pos, "/v2/customers/search", {"query": {"sort": {"field": "UPDATED_AT"}}}, status=400)
    assert err["errors"][0]["code"] == "INVALID_ENUM_VALUE"


def test_customer_create_update_versions_and_read_only_preferences(pos):
    # preferences are not a request field of CreateCustomer / UpdateCustomer: refused as unrecognized
    refused = post(pos, "/v2/customers", {"idempotency_key": "c0", "given_name": "Zoe", "email_address": "zoe@ex.com",
                                          "preferences": {"email_unsubscribed": True}}, status=400)["errors"][0]
    assert (refused["code"], refused["field"]) == ("BAD_REQUEST", "preferences")
    created = post(pos, "/v2/customers", {"idempotency_key": "c1", "given_name": "Zoe",
                                          "email_address": "zoe@ex.com"})["customer"]
    assert created["preferences"]["email_unsubscribed"] is False
    assert post(pos, "/v2/customers", {"idempotency_key": "c1", "given_name": "Zoe",
                                       "email_address": "zoe@ex.com"})["customer"]["id"] == created["id"]
    bad = post(pos, "/v2/customers", {"given_name": "X", "email_address": "not-an-email"}, status=400)
    assert bad["errors"][0]["code"] == "INVALID_EMAIL_ADDRESS"
    r = pos.put(pos.base + f"/v2/customers/{created['id']}", json={"phone_number": "+447700900123"})
    assert r.status_code == 200
    updated = r.json()["customer"]
    assert updated["given_name"] == "Zoe" and updated["version"] == 1  # sparse, version optional
    assert parse_ts(updated["updated_at"]) >= parse_ts(created["updated_at"])
    stale = pos.put(pos.base + f"/v2/customers/{created['id']}", json={"given_name": "Z", "version": 0})
    assert stale.status_code == 400 and stale.json()["errors"][0]["code"] == "CONFLICT"
    r = pos.put(pos.base + f"/v2/customers/{created['id']}", json={"phone_number": None, "version": 1,
                                                                    "preferences": {"email_unsubscribed": True}})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "preferences"
    r = pos.put(pos.base + f"/v2/customers/{created['id']}", json={"phone_number": None, "version": 1})
    assert "phone_number" not in r.json()["customer"]
    assert r.json()["customer"]["preferences"]["email_unsubscribed"] is False
    prefs = post(pos, f"/_sim/customers/{created['id']}/preferences", {"email_unsubscribed": True, "sms_opt_out": True})
    assert prefs["customer"]["preferences"]["email_unsubscribed"] is True and prefs["customer"]["version"] == 3


def test_customer_search_filters_and_eventual_consistency(pos):
    found = post(pos, "/v2/customers/search", {"query": {"filter": {
        "email_address": {"exact": "bob.stone@example.com"}}}})["customers"]
    assert [c["id"] for c in found] == ["CUSTB"]
    fuzzy = post(pos, "/v2/customers/search", {"query": {"filter": {"phone_number": {"fuzzy": "900004"}}}})
    assert [c["id"] for c in fuzzy["customers"]] == ["CUSTD"]
    t0 = sim_now(pos)
    pos.put(pos.base + "/_sim/config", json={"customer_search_delay_seconds": 30})
    r = pos.put(pos.base + "/v2/customers/CUSTA", json={"family_name": "Byron"})
    assert r.status_code == 200
    window = {"query": {"filter": {"updated_at": {"start_at": fmt_ts(t0, 6)}}}}
    assert post(pos, "/v2/customers/search", window)["customers"] == []  # not indexed yet
    listed = {c["id"]: c for c in get(pos, "/v2/customers")["customers"]}
    assert listed["CUSTA"]["family_name"] == "Lovelace"  # the old version is still what search sees
    post(pos, "/_sim/clock", {"advance_seconds": 31})
    assert [c["id"] for c in post(pos, "/v2/customers/search", window)["customers"]] == ["CUSTA"]


# --- invoices -------------------------------------------------------------------------------------
def test_invoice_wraps_an_order_and_publishes(pos):
    order = post(pos, "/v2/orders", {"idempotency_key": "inv-o", "order": {
        "location_id": LOC1, "customer_id": "CUSTA",
        "line_items": [{"catalog_object_id": "VAR000X0", "quantity": "1"}]}})[
        "order"]
    inv = post(pos, "/v2/invoices", {"idempotency_key": "inv-1", "invoice": {
        "location_id": LOC1, "order_id": order["id"], "primary_recipient": {"customer_id": "CUSTA"},
        "payment_requests": [{"request_type": "BALANCE", "due_date": "2030-01-01"}], "delivery_method": "EMAIL",
        "accepted_payment_methods": {"card": True}}})["invoice"]
    assert inv["status"] == "DRAFT" and inv["order_id"] == order["id"]
    err = post(pos, f"/v2/invoices/{inv['id']}/publish", {"version": 5, "idempotency_key": "p0"}, status=400)
    assert err["errors"][0]["code"] == "CONFLICT"
    pub = post(pos, f"/v2/invoices/{inv['id']}/publish", {"version": 0, "idempotency_key": "p1"})["invoice"]
    assert pub["status"] == "UNPAID" and pub["version"] == 1
    assert [i["id"] for i in get(pos, "/v2/invoices", location_id=LOC1)["invoices"]] == [inv["id"]]
    searched = post(pos, "/v2/invoices/search", {"query": {"filter": {"location_ids": [LOC1]}}})["invoices"]
    assert [i["id"] for i in searched] == [inv["id"]]
    assert get(pos, f"/v2/invoices/{inv['id']}")["invoice"]["status"] == "UNPAID"
    assert post(pos, f"/_sim/invoices/{inv['id']}/pay", {})["invoice"]["status"] == "PAID"
    assert get(pos, "/v2/invoices", status=400)["errors"][0]["code"] == "MISSING_REQUIRED_PARAMETER"


# --- simulator admin, formats, persistence ---------------------------------------------------------
def test_in_store_sale_creates_completed_order_and_sold_adjustment(pos):
    before = int(_count(pos, "VAR004X0", LOC2))
    order = post(pos, "/_sim/sales", {"location_id": LOC2, "customer_id": "CUSTB",
                                      "lines": [{"variation_id": "VAR004X0", "quantity": 2}]})
    assert order["state"] == "COMPLETED" and order["tenders"] and order["source"]["name"] == "Square Point of Sale"
    assert int(_count(pos, "VAR004X0", LOC2)) == before - 2
    history = post(pos, "/v2/inventory/changes/batch-retrieve", {"catalog_object_ids": ["VAR004X0"],
                                                                  "types": ["ADJUSTMENT"]})["changes"]
    assert [(c["adjustment"]["reference_id"], c["adjustment"]["to_state"]) for c in history] == [(order["id"], "SOLD")]
    inv = get(pos, "/_sim/inventory")["counts"]
    assert any(c["catalog_object_id"] == "VAR004X0" and c["location_id"] == LOC2 for c in inv)


def test_timestamps_have_mixed_precision_and_money_is_int(pos):
    objs = post(pos, "/v2/catalog/search", {"object_types": ["ITEM_VARIATION", "ITEM", "CATEGORY"]})["objects"]
    lengths = {len(o["updated_at"]) for o in objs}
    assert len(lengths) >= 3
    assert all(o["updated_at"].endswith("Z") for o in objs)
    var = next(o for o in objs if o["type"] == "ITEM_VARIATION")
    assert isinstance(var["item_variation_data"]["price_money"]["amount"], int)
    order = post(pos, "/v2/orders/search", {"location_ids": [LOC1]})["orders"][0]
    assert isinstance(order["line_items"][0]["quantity"], str)


def test_state_round_trips_through_json(pos):
    post(pos, "/_sim/sales", {"location_id": LOC1, "lines": [{"sku": "SKU-001-0", "quantity": 1}]})
    data = pos.state.to_json()
    restored = PosState.from_json(data)
    assert restored.to_json() == data
    handle = serve_in_thread(create_pos_app(restored))
    try:
        r = requests.get(handle.url + "/_sim/state")
        assert r.json()["orders"] == get(pos, "/_sim/state")["orders"]
    finally:
        handle.stop()


def test_seeded_world_from_generator_renders(tmp_path):
    seed = pytest.importorskip("storeflow_simulators.seed")
    world = seed.generate_world(7, "tiny", NOW)
    state = PosState.from_world(world)
    summary = state.summary()
    assert summary["catalog"].get("ITEM", 0) == len(world.products)
    assert summary["customers"] == len(world.pos_customers)
    assert summary["orders"] == sum(1 for o in world.orders if o.channel == "in_store")
    assert summary["inventory_counts"] > 0
    handle = serve_in_thread(create_pos_app(state))
    try:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {DEMO_POS_TOKEN}"
        locs = [x["id"] for x in s.get(handle.url + "/v2/locations").json()["locations"]][:10]
        r = s.post(handle.url + "/v2/orders/search", json={"location_ids": locs, "limit": 1000})
        assert r.status_code == 200 and r.json()["orders"]
        assert all(o["state"] in {"COMPLETED", "OPEN", "CANCELED"} for o in r.json()["orders"])
    finally:
        handle.stop()


def test_inventory_history_is_sorted_by_occurred_at_oldest_first(pos):
    """A late-arriving change that happened earlier (an offline till syncing) sorts before newer ones."""
    start = fmt_ts(datetime.now(UTC) - timedelta(seconds=1), 6)
    post(pos, "/v2/inventory/changes/batch-create", {"idempotency_key": "new", "changes": [
        _adjust(var="VAR002X0", ref="newer", when=occurred(minutes_ago=1))]})
    post(pos, "/v2/inventory/changes/batch-create", {"idempotency_key": "late", "changes": [
        _adjust(var="VAR002X0", ref="older", when=occurred(minutes_ago=90))]})
    post(pos, "/v2/inventory/changes/batch-create", {"idempotency_key": "mid", "changes": [
        _adjust(var="VAR002X0", ref="middle", when=occurred(minutes_ago=30))]})
    refs: list[str] = []
    body: dict = {"catalog_object_ids": ["VAR002X0"], "updated_after": start, "limit": 1}
    while True:  # one change per page: the order must hold across cursors too
        page = post(pos, "/v2/inventory/changes/batch-retrieve", body)
        refs += [c["adjustment"]["reference_id"] for c in page["changes"]]
        if not page.get("cursor"):
            break
        body = {**body, "cursor": page["cursor"]}
    assert refs == ["older", "middle", "newer"]


def test_spec_validation_refuses_and_can_be_switched_off(pos):
    bad = {"object_types": ["ITEM"], "include_deleted_objects": "yes"}
    err = post(pos, "/v2/catalog/search", bad, status=400)["errors"][0]
    assert (err["code"], err["field"]) == ("EXPECTED_BOOLEAN", "include_deleted_objects")
    r = pos.get(pos.base + "/v2/locations", headers={"Square-Version": "latest"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_SQUARE_VERSION_FORMAT"
    pos.put(pos.base + "/_sim/config", json={"validate_requests": False})  # e.g. to replay old recordings
    assert pos.get(pos.base + "/v2/locations", headers={"Square-Version": "latest"}).status_code == 200
    assert "objects" in post(pos, "/v2/catalog/search", {"object_types": ["ITEM"], "colour": "red"})
