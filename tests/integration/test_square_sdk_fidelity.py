"""The official Square Python SDK (squareup v46, Fern-generated) against the POS simulator.

Where an SDK call fails, the simulator is wrong: these tests exist to keep it honest.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

square = pytest.importorskip("square")
from square import Square  # noqa: E402
from square.core.api_error import ApiError as SdkApiError  # noqa: E402

from storeflow_simulators.credentials import DEMO_POS_TOKEN  # noqa: E402
from storeflow_simulators.pos import PosState, create_pos_app  # noqa: E402
from storeflow_simulators.pos_common import fmt_ts  # noqa: E402
from storeflow_simulators.pos_sample import sample_world  # noqa: E402
from storeflow_simulators.serve import serve_in_thread  # noqa: E402

NOW = datetime.now(UTC).replace(microsecond=0)
LOC1 = "LOC1MAINSTREET"
NO_RETRY = {"max_retries": 0}


@pytest.fixture
def sim():
    state = PosState.from_world(sample_world(NOW))
    handle = serve_in_thread(create_pos_app(state))
    yield handle
    handle.stop()


@pytest.fixture
def sdk(sim):
    client = Square(base_url=sim.url, token=DEMO_POS_TOKEN)
    yield client


def _bulk(sim_url: str, n: int) -> None:
    objects = [{"type": "ITEM", "id": f"#i{i}", "item_data": {"name": f"Bulk {i}", "variations": [
        {"type": "ITEM_VARIATION", "id": f"#v{i}", "item_variation_data": {
            "name": "Regular", "sku": f"BULK-{i}", "price_money": {"amount": 100 + i, "currency": "GBP"}}}]}}
        for i in range(n)]
    r = requests.post(sim_url + "/v2/catalog/batch-upsert", json={"idempotency_key": "bulk", "batches": [
        {"objects": objects}]}, headers={"Authorization": f"Bearer {DEMO_POS_TOKEN}"})
    assert r.status_code == 200


def test_sdk_lists_locations_and_the_whole_catalog_across_pages(sdk, sim):
    _bulk(sim.url, 150)
    locations = sdk.locations.list().locations
    assert {loc.id for loc in locations} == {"LOC1MAINSTREET", "LOC2STATION", "LOC3CLOSED"}
    pager = sdk.catalog.list(types="ITEM,CATEGORY", request_options=NO_RETRY)
    objects = list(pager)
    ids = [o.id for o in objects]
    assert len(ids) == len(set(ids)) == 6 + 150 + 3
    items = [o for o in objects if o.type == "ITEM"]
    first = next(o for o in items if o.id == "ITEM002")
    assert first.item_data.name == "Toner product 2"
    variation = first.item_data.variations[0]
    assert variation.item_variation_data.sku == "SKU-002-0"
    assert variation.item_variation_data.price_money.amount == 499 + 500
    assert variation.version and first.updated_at


def test_sdk_search_catalog_with_begin_time_and_tombstones(sdk, sim):
    before = fmt_ts(datetime.now(UTC) - timedelta(seconds=1), 3)
    requests.post(sim.url + "/_sim/delete", json={"object_id": "ITEM001"})
    resp = sdk.catalog.search(object_types=["ITEM", "ITEM_VARIATION"], begin_time=before,
                              include_deleted_objects=True, request_options=NO_RETRY)
    deleted = {o.id for o in resp.objects if o.is_deleted}
    assert deleted == {"ITEM001", "VAR001X0", "VAR001X1"}
    assert resp.latest_time


def test_sdk_batch_change_inventory_and_counts(sdk):
    key = str(uuid.uuid4())
    changes = [{"type": "ADJUSTMENT", "adjustment": {
        "catalog_object_id": "VAR000X0", "location_id": LOC1, "from_state": "IN_STOCK", "to_state": "SOLD",
        "quantity": "1", "reference_id": "sdk-1", "occurred_at": fmt_ts(datetime.now(UTC) - timedelta(seconds=2), 3)}}]
    counts_before = {c.catalog_object_id: c.quantity for c in sdk.inventory.batch_get_counts(
        catalog_object_ids=["VAR000X0"], location_ids=[LOC1], states=["IN_STOCK"], request_options=NO_RETRY)}
    resp = sdk.inventory.batch_create_changes(idempotency_key=key, changes=changes, ignore_unchanged_counts=True,
                                              request_options=NO_RETRY)
    assert not resp.errors
    in_stock = next(c for c in resp.counts if c.state == "IN_STOCK")
    assert int(in_stock.quantity) == int(counts_before["VAR000X0"]) - 1
    again = sdk.inventory.batch_create_changes(idempotency_key=key, changes=changes, ignore_unchanged_counts=True,
                                               request_options=NO_RETRY)  # a retry: same key, same body
    assert [c.quantity for c in again.counts] == [c.quantity for c in resp.counts]
    with pytest.raises(SdkApiError) as info:
        sdk.inventory.batch_create_changes(idempotency_key=key, changes=[{**changes[0], "adjustment": {
            **changes[0]["adjustment"], "quantity": "5"}}], request_options=NO_RETRY)
    assert info.value.status_code == 400
    assert info.value.errors[0].code == "IDEMPOTENCY_KEY_REUSED"
    history = list(sdk.inventory.batch_get_changes(catalog_object_ids=["VAR000X0"], types=["ADJUSTMENT"],
                                                   request_options=NO_RETRY))
    assert [h.adjustment.reference_id for h in history] == ["sdk-1"]


def test_sdk_search_orders_and_create_order(sdk):
    created = sdk.orders.create(idempotency_key="sdk-order-1", order={
        "location_id": LOC1, "reference_id": "sdk-1", "line_items": [
            {"catalog_object_id": "VAR001X0", "quantity": "2"}]}, request_options=NO_RETRY).order
    assert created.total_money.amount == 2 * 749 and created.state == "OPEN"
    resp = sdk.orders.search(location_ids=[LOC1, "LOC2STATION"], limit=3, query={
        "filter": {"date_time_filter": {"updated_at": {"start_at": "2000-01-01T00:00:00Z"}},
                   "state_filter": {"states": ["COMPLETED", "OPEN"]}},
        "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}}, request_options=NO_RETRY)
    ids = [o.id for o in resp.orders]
    while resp.cursor:
        resp = sdk.orders.search(location_ids=[LOC1, "LOC2STATION"], limit=3, cursor=resp.cursor, query={
            "filter": {"date_time_filter": {"updated_at": {"start_at": "2000-01-01T00:00:00Z"}},
                       "state_filter": {"states": ["COMPLETED", "OPEN"]}},
            "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}}, request_options=NO_RETRY)
        ids += [o.id for o in resp.orders]
    assert len(ids) == len(set(ids)) == 9 and ids[-1] == created.id
    fetched = sdk.orders.get(created.id).order
    assert fetched.line_items[0].quantity == "2"
    payment = sdk.payments.create(source_id="EXTERNAL", idempotency_key="sdk-pay-1", order_id=created.id,
                                  amount_money={"amount": 2 * 749, "currency": "GBP"},
                                  external_details={"type": "OTHER", "source": "storeflow"},
                                  request_options=NO_RETRY).payment
    assert payment.status == "COMPLETED"
    assert sdk.orders.get(created.id).order.state == "COMPLETED"
    with pytest.raises(SdkApiError) as info:
        sdk.orders.search(location_ids=[LOC1], query={
            "filter": {"date_time_filter": {"updated_at": {"start_at": "2000-01-01T00:00:00Z"}}},
            "sort": {"sort_field": "CREATED_AT"}}, request_options=NO_RETRY)
    assert info.value.status_code == 400


def test_sdk_customers_list_search_create_update(sdk):
    listed = list(sdk.customers.list(limit=2, request_options=NO_RETRY))
    assert sorted(c.id for c in listed) == ["CUSTA", "CUSTB", "CUSTC", "CUSTD", "CUSTE"]
    cleo = next(c for c in listed if c.id == "CUSTC")
    assert cleo.preferences.email_unsubscribed is True
    created = sdk.customers.create(idempotency_key="sdk-c1", given_name="Sam", email_address="sam@example.com",
                                   request_options=NO_RETRY).customer
    updated = sdk.customers.update(created.id, family_name="Tate", version=created.version,
                                   request_options=NO_RETRY).customer
    assert updated.family_name == "Tate" and updated.version == created.version + 1
    found = sdk.customers.search(query={"filter": {"email_address": {"exact": "SAM@example.com"}}},
                                 request_options=NO_RETRY).customers
    assert [c.id for c in found] == [created.id]


def test_sdk_invoices_and_auth_error(sdk, sim):
    order = sdk.orders.create(idempotency_key="sdk-inv-order", order={
        "location_id": LOC1, "customer_id": "CUSTA",
        "line_items": [{"catalog_object_id": "VAR000X0", "quantity": "1"}]}, request_options=NO_RETRY).order
    invoice = sdk.invoices.create(idempotency_key="sdk-inv", invoice={
        "location_id": LOC1, "order_id": order.id, "primary_recipient": {"customer_id": "CUSTA"},
        "payment_requests": [{"request_type": "BALANCE", "due_date": "2030-01-01"}],
        "delivery_method": "EMAIL", "accepted_payment_methods": {"card": True}}, request_options=NO_RETRY).invoice
    published = sdk.invoices.publish(invoice.id, version=invoice.version, idempotency_key="sdk-pub",
                                      request_options=NO_RETRY).invoice
    assert published.status == "UNPAID"
    assert [i.id for i in sdk.invoices.list(location_id=LOC1, request_options=NO_RETRY)] == [invoice.id]
    bad = Square(base_url=sim.url, token="wrong-token")
    with pytest.raises(SdkApiError) as info:
        bad.locations.list(request_options=NO_RETRY)
    assert info.value.status_code == 401
    assert info.value.errors[0].code == "UNAUTHORIZED"
