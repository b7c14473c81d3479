"""The official ``woocommerce`` SDK drives the store simulator (plain HTTP -> OAuth 1.0a query signing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from woocommerce import API

from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow_simulators.store import StoreState
from storeflow_simulators.store_testing import running_store, small_world

T0 = datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def state() -> StoreState:
    st = StoreState.from_world(small_world(T0))
    st.clock.freeze(T0)
    for i in range(20):
        st.write_product({"name": f"Tea {i}", "sku": f"TEA-{i:03d}", "regular_price": "4.00", "manage_stock": True,
                          "stock_quantity": 12})
    return st


@pytest.fixture
def api(state):
    with running_store(state) as handle:
        yield API(url=handle.url, consumer_key=DEMO_STORE_KEY, consumer_secret=DEMO_STORE_SECRET,
                  version="wc/v3", timeout=10)


def test_sdk_uses_oauth_and_wrong_secret_is_rejected(state, api):
    response = api.get("products")
    assert response.status_code == 200
    assert "oauth_signature=" in response.url and "consumer_secret" not in response.url
    bad = API(url=api.url, consumer_key=DEMO_STORE_KEY, consumer_secret="cs_wrong", version="wc/v3")
    denied = bad.get("products")
    assert denied.status_code == 401
    assert denied.json()["code"] == "woocommerce_rest_authentication_error"


def test_sdk_lists_products_across_several_pages(state, api):
    first = api.get("products", params={"per_page": 4, "page": 1, "orderby": "id", "order": "asc"})
    assert first.status_code == 200, first.text
    total, pages = int(first.headers["X-WP-Total"]), int(first.headers["X-WP-TotalPages"])
    assert total == 27 and pages == 7  # 7 seeded products + 20 teas (variations are not listed)
    seen = [p["id"] for p in first.json()]
    for page in range(2, pages + 1):
        response = api.get("products", params={"per_page": 4, "page": page, "orderby": "id", "order": "asc"})
        assert response.status_code == 200, response.text
        seen += [p["id"] for p in response.json()]
    expected = sorted(p["id"] for p in state.products.values() if p["type"] != "variation")
    assert seen == expected
    assert api.get("products", params={"per_page": 4, "page": pages + 1}).json() == []
    windowed = api.get("products", params={"modified_after": "2024-07-01T11:59:59", "dates_are_gmt": "true",
                                           "per_page": 100})
    assert windowed.status_code == 200, windowed.text
    assert len(windowed.json()) == 20


def test_sdk_creates_an_order(state, api):
    payload = {
        "payment_method": "bacs", "payment_method_title": "Direct Bank Transfer", "set_paid": True,
        "customer_id": 2,
        "billing": {"first_name": "Bob", "last_name": "Ray", "email": "bob@example.com", "country": "GB"},
        "line_items": [{"product_id": 100, "quantity": 2}, {"variation_id": 107, "product_id": 105, "quantity": 1}],
        "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat Rate", "total": "3.95"}],
        "meta_data": [{"key": "_storeflow_test", "value": "sdk"}],
    }
    response = api.post("orders", payload)
    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["Location"].endswith(f"/wp-json/wc/v3/orders/{order['id']}")
    assert order["status"] == "processing" and order["customer_id"] == 2
    assert order["total"] == "44.95" and order["shipping_total"] == "3.95"
    assert order["date_paid_gmt"] == "2024-07-01T12:00:00"
    assert [li["sku"] for li in order["line_items"]] == ["COF-001", "TEE-RED-L"]
    assert api.get("products/100").json()["stock_quantity"] == 8
    assert api.get("products/105/variations/107").json()["stock_quantity"] == 9
    fetched = api.get(f"orders/{order['id']}").json()
    assert fetched["meta_data"][0]["key"] == "_storeflow_test"
    updated = api.put(f"orders/{order['id']}", {"status": "completed"})
    assert updated.status_code == 200 and updated.json()["status"] == "completed"


def test_sdk_batch_updates_products(state, api):
    teas = api.get("products", params={"sku": ",".join(f"TEA-{i:03d}" for i in range(20)), "per_page": 100}).json()
    assert len(teas) == 20
    state.clock.freeze(T0 + timedelta(minutes=1))
    body = {"update": [{"id": t["id"], "regular_price": "4.50"} for t in teas] + [{"id": 1, "regular_price": "1"}]}
    response = api.post("products/batch", body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert [r["regular_price"] for r in result["update"][:20]] == ["4.50"] * 20
    assert result["update"][20]["error"]["code"] == "woocommerce_rest_product_invalid_id"
    after = api.get("products", params={"modified_after": "2024-07-01T12:00:30", "dates_are_gmt": "true",
                                        "per_page": 100})
    assert sorted(p["id"] for p in after.json()) == sorted(t["id"] for t in teas)
    too_big = api.post("products/batch", {"update": [{"id": teas[0]["id"]}] * 101})
    assert too_big.status_code == 413


def test_sdk_customers_and_delete(state, api):
    found = api.get("customers", params={"email": "bob@example.com"})
    assert found.status_code == 200 and [c["id"] for c in found.json()] == [2]
    created = api.post("customers", {"email": "sdk@example.com", "first_name": "Sdk"})
    assert created.status_code == 201
    assert api.delete(f"customers/{created.json()['id']}").status_code == 501  # no trash for customers
    assert api.delete(f"customers/{created.json()['id']}", params={"force": "true"}).status_code == 200
    assert api.delete("products/101").json()["status"] == "publish"  # real 10.0.2: the pre-trash status
    assert api.get("products/101").json()["status"] == "trash"
