"""Contract tests of the WooCommerce-contract store simulator, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
import requests
from fastapi import Request

from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow_simulators.store import StoreState
from tests.woo_signing import SdkOAuth

API = "/wp-json/wc/v3"
T0 = datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC)  # British Summer Time: London = UTC+1


def get(http, store, path, **params):
    return http.get(f"{store.url}{API}{path}", params=params, timeout=10)


def sim(store, method, path, body=None):
    response = requests.request(method, f"{store.url}/_sim{path}", json=body, timeout=10)
    assert response.status_code < 300, response.text
    return response.json()


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]


# --- authentication --------------------------------------------------------------------------------
def _oauth_sha1_url(method: str, url: str, params: dict[str, str], key: str, secret: str) -> str:
    """An independent OAuth 1.0a one-legged HMAC-SHA1 signer (RFC 5849 base string)."""
    oauth = {"oauth_consumer_key": key, "oauth_timestamp": str(int(time.time())),
             "oauth_nonce": secrets.token_hex(8), "oauth_signature_method": "HMAC-SHA1"}
    allp = {**params, **oauth}
    enc = lambda s: quote(str(s), safe="~")  # noqa: E731
    normalized = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(allp.items()))
    base = "&".join([method, enc(url), enc(normalized)])
    sig = base64.b64encode(hmac.new(f"{secret}&".encode(), base.encode(), hashlib.sha1).digest()).decode()
    return f"{url}?{urlencode({**allp, 'oauth_signature': sig})}"


def test_auth_over_plain_http_only_oauth(store):
    """Over plain HTTP a real store ignores Basic and query-string keys (``is_ssl()`` is false)."""
    url = f"{store.url}{API}/products"
    denied = {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
              "data": {"status": 401}}
    basic = requests.get(url, auth=(DEMO_STORE_KEY, DEMO_STORE_SECRET), timeout=10)
    assert basic.status_code == 401 and basic.json() == denied
    query = requests.get(url, params={"consumer_key": DEMO_STORE_KEY, "consumer_secret": DEMO_STORE_SECRET},
                         timeout=10)
    assert query.status_code == 401 and query.json() == denied
    none = requests.get(url, timeout=10)
    assert none.status_code == 401 and none.json() == denied
    # even a wrong secret is not looked at over HTTP
    assert requests.get(url, auth=(DEMO_STORE_KEY, "cs_wrong"), timeout=10).json() == denied
    assert requests.get(url, auth=SdkOAuth(), timeout=10).status_code == 200
    unknown = requests.get(url, auth=SdkOAuth("ck_nope", "cs_x"), timeout=10)
    assert unknown.status_code == 401 and unknown.json()["message"] == "Consumer key is invalid."


def test_auth_oauth_sdk_signature_and_tampering(store):
    from woocommerce.oauth import OAuth

    url = f"{store.url}{API}/products?per_page=2&orderby=id&order=asc"
    signed = OAuth(url=url, consumer_key=DEMO_STORE_KEY, consumer_secret=DEMO_STORE_SECRET, version="wc/v3",
                   method="GET", oauth_timestamp=int(time.time())).get_oauth_url()
    assert "oauth_signature_method=HMAC-SHA256" in signed
    assert requests.get(signed, timeout=10).status_code == 200
    # replaying the same nonce is refused
    replay = requests.get(signed, timeout=10)
    assert replay.status_code == 401
    assert replay.json()["message"] == "Invalid nonce - nonce has already been used."
    # a parameter changed after signing breaks the signature
    fresh = OAuth(url=url, consumer_key=DEMO_STORE_KEY, consumer_secret=DEMO_STORE_SECRET, version="wc/v3",
                  method="GET", oauth_timestamp=int(time.time())).get_oauth_url()
    tampered = fresh.replace("per_page=2", "per_page=3")
    response = requests.get(tampered, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"code": "woocommerce_rest_authentication_error",
                               "message": "Invalid signature - provided signature does not match.",
                               "data": {"status": 401}}
    # signed with the wrong secret
    wrong = OAuth(url=url, consumer_key=DEMO_STORE_KEY, consumer_secret="cs_wrong", version="wc/v3",
                  method="GET", oauth_timestamp=int(time.time())).get_oauth_url()
    assert requests.get(wrong, timeout=10).status_code == 401
    # an old timestamp is refused even when correctly signed
    old = OAuth(url=url, consumer_key=DEMO_STORE_KEY, consumer_secret=DEMO_STORE_SECRET, version="wc/v3",
                method="GET", oauth_timestamp=int(time.time()) - 3600).get_oauth_url()
    assert requests.get(old, timeout=10).json()["message"] == "Invalid timestamp."


def test_auth_oauth_hmac_sha1(store):
    url = f"{store.url}{API}/products"
    signed = _oauth_sha1_url("GET", url, {"per_page": "3"}, DEMO_STORE_KEY, DEMO_STORE_SECRET)
    response = requests.get(signed, timeout=10)
    assert response.status_code == 200, response.text
    assert len(response.json()) == 3
    parts = dict(parse_qsl(urlsplit(signed).query))
    parts["oauth_signature"] = parts["oauth_signature"][:-4] + "AAA="
    assert requests.get(url, params=parts, timeout=10).status_code == 401


# --- errors, paging, headers ---------------------------------------------------------------------------
def test_per_page_over_100_exact_body(http, store):
    response = get(http, store, "/products", per_page=101)
    assert response.status_code == 400
    reason = "per_page must be between 1 (inclusive) and 100 (inclusive)"
    assert response.json() == {
        "code": "rest_invalid_param", "message": "Invalid parameter(s): per_page",
        "data": {"status": 400, "params": {"per_page": reason},
                 "details": {"per_page": {"code": "rest_out_of_bounds", "message": reason, "data": None}}},
    }
    assert get(http, store, "/products", per_page=0).status_code == 400
    assert get(http, store, "/orders", per_page=100).status_code == 200


def test_headers_link_and_page_beyond_end(http, store):
    response = get(http, store, "/products", per_page=2, page=2, orderby="id", order="asc", status="publish")
    assert response.status_code == 200
    assert isinstance(response.json(), list)
    # 6 published products (5 coffees + the T-shirt); the gift card is a draft, variations are not listed
    assert response.headers["X-WP-Total"] == "6"
    assert response.headers["X-WP-TotalPages"] == "3"
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"]))
    assert set(links) == {"prev", "next"}
    for rel, page in (("prev", "1"), ("next", "3")):
        query = {k: v for k, v in parse_qsl(urlsplit(links[rel]).query) if not k.startswith("oauth_")}
        assert query == {"per_page": "2", "page": page, "orderby": "id", "order": "asc", "status": "publish"}
    assert ids(response) == [102, 103]
    beyond = get(http, store, "/products", per_page=2, page=9, status="publish")
    assert beyond.status_code == 200 and beyond.json() == []
    assert beyond.headers["X-WP-Total"] == "6"
    assert ids(get(http, store, "/products", per_page=3, offset=4, orderby="id", order="asc")) == [104, 105, 110]
    slim = get(http, store, "/products", _fields="sku,stock_quantity", per_page=2, orderby="id", order="asc")
    assert [{k: v for k, v in row.items() if k != "_links"} for row in slim.json()] == [
        {"id": 100, "sku": "COF-001", "stock_quantity": 10}, {"id": 101, "sku": "COF-002", "stock_quantity": 10}]
    # default order is date desc; per_page default 10
    assert len(get(http, store, "/products").json()) == 7


def test_unknown_route_and_invalid_id(http, store):
    response = http.get(f"{store.url}{API}/nope", timeout=10)
    assert response.status_code == 404 and response.json()["code"] == "rest_no_route"
    missing = http.get(f"{store.url}{API}/products/99999", timeout=10)
    assert missing.status_code == 404
    assert missing.json() == {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.",
                              "data": {"status": 404}}
    put = http.put(f"{store.url}{API}/products/99999", json={"name": "x"}, timeout=10)
    assert put.status_code == 400 and put.json()["code"] == "woocommerce_rest_product_invalid_id"
    as_product = http.put(f"{store.url}{API}/products/106", json={"regular_price": "1.00"}, timeout=10)
    assert as_product.status_code == 404 and as_product.json()["code"] == "woocommerce_rest_invalid_product_id"


def test_money_strings_and_dates_twice(http, store):
    product = http.get(f"{store.url}{API}/products/100", timeout=10).json()
    assert product["regular_price"] == "10.50" and product["sale_price"] == "" and product["price"] == "10.50"
    naive = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
    for key in ("date_created", "date_created_gmt", "date_modified", "date_modified_gmt"):
        assert naive.match(product[key]), (key, product[key])
    # the test site is in Paris: UTC+2 on the seeded date (summer)
    local = datetime.fromisoformat(product["date_modified"])
    gmt = datetime.fromisoformat(product["date_modified_gmt"])
    assert local - gmt == timedelta(hours=2)
    order = http.get(f"{store.url}{API}/orders/5002", timeout=10).json()
    assert order["total"] == "28.00" and order["discount_total"] == "3.00"
    assert order["coupon_lines"][0]["code"] == "WELCOME10"
    assert isinstance(order["line_items"][0]["price"], float)
    assert order["line_items"][0]["subtotal"] == "20.00"
    guest = http.get(f"{store.url}{API}/orders/5003", timeout=10).json()
    assert guest["customer_id"] == 0 and guest["billing"]["email"] == "dan@example.com"
    assert guest["total_tax"] == "5.75" and guest["total"] == "40.25"


# --- date filters -----------------------------------------------------------------------------------
def test_modified_after_is_strict(http, state, store):
    sim(store, "POST", "/products/touch", {"ids": [101]})
    base = {"dates_are_gmt": "true", "orderby": "id", "order": "asc"}
    at = "2024-07-01T12:00:00"
    assert ids(get(http, store, "/products", modified_after=at, **base)) == []
    assert ids(get(http, store, "/products", modified_after="2024-07-01T11:59:59", **base)) == [101]
    assert 101 not in ids(get(http, store, "/products", modified_before=at, **base))
    assert 101 in ids(get(http, store, "/products", modified_before="2024-07-01T12:00:01", **base))


def test_timezone_trap_reproduced(http, state, store):
    """Site tz Europe/London in summer (UTC+1); a product modified at 12:00:00 UTC (13:00 local)."""
    sim(store, "PUT", "/timezone", {"timezone": "Europe/London"})
    sim(store, "POST", "/products/touch", {"ids": [101]})
    q = lambda **kw: 101 in ids(get(http, store, "/products", **kw))  # noqa: E731
    # the safe rule: naive UTC + dates_are_gmt=true is exact
    assert q(modified_after="2024-07-01T11:59:59", dates_are_gmt="true")
    assert not q(modified_after="2024-07-01T12:00:00", dates_are_gmt="true")
    # trap: a Z timestamp with dates_are_gmt=true is converted to site-local first -> off by one hour
    assert not q(modified_after="2024-07-01T11:30:00Z", dates_are_gmt="true")  # 12:30 local vs 12:00 gmt
    assert q(modified_after="2024-07-01T10:59:59Z", dates_are_gmt="true")
    assert not q(modified_after="2024-07-01T11:00:00Z", dates_are_gmt="true")
    # an offset-bearing value with dates_are_gmt=false is right
    assert q(modified_after="2024-07-01T11:59:59Z")
    assert not q(modified_after="2024-07-01T12:00:00Z")
    assert q(modified_after="2024-07-01T13:59:59+02:00")
    # a naive value with dates_are_gmt=false is read as site-local
    assert q(modified_after="2024-07-01T12:59:59")
    assert not q(modified_after="2024-07-01T13:00:00")
    # in UTC the trap disappears
    sim(store, "PUT", "/timezone", {"timezone": "UTC"})
    assert q(modified_after="2024-07-01T11:30:00Z", dates_are_gmt="true")
    product = http.get(f"{store.url}{API}/products/101", timeout=10).json()
    assert product["date_modified"] == product["date_modified_gmt"] == "2024-07-01T12:00:00"


def test_date_only_value_is_invalid(http, store):
    response = get(http, store, "/orders", modified_after="2024-05-01")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "rest_invalid_param"
    assert body["message"] == "Invalid parameter(s): modified_after"
    assert body["data"]["params"] == {"modified_after": "Invalid date."}
    assert get(http, store, "/products", after="yesterday").status_code == 400


def test_after_filters_creation_not_modification(http, store):
    sim(store, "POST", "/products/touch", {"ids": [101]})
    assert ids(get(http, store, "/products", after="2024-01-01T00:00:00", dates_are_gmt="true")) == []
    created = ids(get(http, store, "/orders", after="2024-06-20T00:00:00", dates_are_gmt="true", orderby="id",
                      order="asc"))
    assert created == [5003, 5004]


def test_unknown_params_silently_ignored_on_customers(http, store):
    everything = ids(get(http, store, "/customers"))
    assert len(everything) == 3
    assert ids(get(http, store, "/customers", modified_after="2099-01-01T00:00:00", bogus="1")) == everything


def test_id_tiebreak_toggle(http, state, store):
    state.clock.freeze(T0)
    sim(store, "POST", "/products/touch", {"all": True})

    def read_all() -> list[int]:
        out: list[int] = []
        for page in (1, 2, 3):
            out += ids(get(http, store, "/products", orderby="modified", order="desc", per_page=3, page=page,
                           sku=",".join(f"COF-{i:03d}" for i in range(1, 6)) + ",TEE-RED-M,TEE-RED-L,TEE-BLUE-M"))
        return out

    stable = read_all()
    assert sorted(stable) == sorted(set(stable)) and len(stable) == 8
    assert stable == sorted(stable, reverse=True)  # ties broken by ID in the same direction
    sim(store, "PUT", "/options", {"id_tiebreak": False})
    unstable = [read_all() for _ in range(3)]
    assert any(len(set(run)) < len(run) for run in unstable), unstable  # duplicates (and so misses) appear


# --- products, variations, batch ---------------------------------------------------------------------
def test_sku_lookup_returns_variations(http, store):
    rows = get(http, store, "/products", sku="TEE-RED-M,COF-002").json()
    by_sku = {r["sku"]: r for r in rows}
    assert set(by_sku) == {"TEE-RED-M", "COF-002"}
    assert by_sku["TEE-RED-M"]["type"] == "variation" and by_sku["TEE-RED-M"]["parent_id"] == 105
    assert by_sku["COF-002"]["type"] == "simple"
    assert get(http, store, "/products", sku="TEE-RED").json() == []  # exact, not partial
    plain = get(http, store, "/products", per_page=100).json()
    assert all(r["type"] != "variation" for r in plain)
    parent = http.get(f"{store.url}{API}/products/105", timeout=10).json()
    assert parent["type"] == "variable" and parent["variations"] == [106, 107, 108, 109]
    kids = http.get(f"{store.url}{API}/products/105/variations", params={"orderby": "id", "order": "asc"},
                    timeout=10).json()
    assert [k["sku"] for k in kids] == ["TEE-RED-M", "TEE-RED-L", "TEE-BLUE-M", "TEE-BLUE-L"]
    assert kids[0]["attributes"] == [{"id": 0, "name": "Colour", "slug": "colour", "option": "RED"},
                                     {"id": 0, "name": "Size", "slug": "size", "option": "M"}]


def test_batch_limit_per_item_errors_and_force_delete(http, store):
    url = f"{store.url}{API}/products/batch"
    too_many = http.post(url, json={"update": [{"id": 100}] * 60, "delete": [101] * 41}, timeout=10)
    assert too_many.status_code == 413
    assert too_many.json() == {"code": "woocommerce_rest_request_entity_too_large",
                               "message": "Unable to accept more than 100 items for this request.",
                               "data": {"status": 413}}
    assert http.get(f"{store.url}{API}/products/101", timeout=10).status_code == 200  # nothing processed
    body = http.post(url, json={
        "create": [{"name": "New", "sku": "NEW-1", "regular_price": "3.50"}, {"name": "Dup", "sku": "COF-001"}],
        "update": [{"id": 100, "regular_price": "9.99"}, {"id": 424242, "regular_price": "1.00"}],
        "delete": [104],
    }, timeout=10).json()
    assert body["create"][0]["sku"] == "NEW-1" and body["create"][0]["regular_price"] == "3.50"
    dup = body["create"][1]
    assert dup["id"] == 0
    assert dup["error"]["code"] == "product_invalid_sku"
    assert dup["error"]["message"] == "Invalid or duplicated SKU."
    assert dup["error"]["data"]["resource_id"] == 100 and dup["error"]["data"]["status"] == 400
    assert body["update"][0]["regular_price"] == "9.99"
    assert body["update"][1] == {"id": 424242, "error": {"code": "woocommerce_rest_product_invalid_id",
                                                         "message": "Invalid ID.", "data": {"status": 400}}}
    assert body["delete"][0]["id"] == 104
    assert http.get(f"{store.url}{API}/products/104", timeout=10).status_code == 404  # force, not trash
    only_update = http.post(url, json={"update": [{"id": 100, "name": "Coffee One"}]}, timeout=10).json()
    assert set(only_update) == {"update"}  # empty sections are omitted


def test_single_delete_trashes_then_410(http, store):
    first = http.delete(f"{store.url}{API}/products/103", timeout=10)
    assert first.status_code == 200 and first.json()["status"] == "publish"  # the pre-trash status
    again = http.delete(f"{store.url}{API}/products/103", timeout=10)
    assert again.status_code == 410 and again.json()["code"] == "woocommerce_rest_already_trashed"
    assert 103 not in ids(get(http, store, "/products", per_page=100))
    assert 103 in ids(get(http, store, "/products", status="trash"))


def test_stock_writes_inventory_delta_and_parent_managed_variation(http, store):
    url = f"{store.url}{API}/products/100"
    assert http.put(url, json={"inventory_delta": -3}, timeout=10).json()["stock_quantity"] == 7
    assert http.put(url, json={"stock_quantity": 0}, timeout=10).json()["stock_status"] == "outofstock"
    assert http.put(url, json={"stock_quantity": 4, "inventory_delta": 100}, timeout=10).json()["stock_quantity"] == 4
    off = http.put(url, json={"manage_stock": False, "inventory_delta": 5}, timeout=10).json()
    assert off["manage_stock"] is False and off["stock_quantity"] is None
    # parent-managed variations
    http.put(f"{store.url}{API}/products/105", json={"manage_stock": True, "stock_quantity": 30}, timeout=10)
    var = http.put(f"{store.url}{API}/products/105/variations/106", json={"manage_stock": False},
                   timeout=10).json()
    assert var["manage_stock"] == "parent" and var["stock_quantity"] == 30
    order = http.post(f"{store.url}{API}/orders", json={
        "set_paid": True, "line_items": [{"variation_id": 106, "product_id": 105, "quantity": 2}]}, timeout=10)
    assert order.status_code == 201, order.text
    assert http.get(f"{store.url}{API}/products/105", timeout=10).json()["stock_quantity"] == 28
    assert http.get(f"{store.url}{API}/products/105/variations/107", timeout=10).json()["stock_quantity"] == 10


# --- orders: stock reduction rules ---------------------------------------------------------------------
def _stock(http, store, pid: int) -> int:
    return http.get(f"{store.url}{API}/products/{pid}", timeout=10).json()["stock_quantity"]


def test_order_stock_reduction_rules(http, state, store):
    url = f"{store.url}{API}/orders"
    pending = http.post(url, json={"line_items": [{"sku": "COF-001", "quantity": 2}]}, timeout=10).json()
    assert pending["status"] == "pending" and pending["created_via"] == "rest-api"
    assert pending["total"] == "21.00" and pending["date_paid_gmt"] is None
    assert _stock(http, store, 100) == 10
    processing = http.put(f"{url}/{pending['id']}", json={"status": "processing"}, timeout=10).json()
    assert processing["date_paid_gmt"] is not None
    assert _stock(http, store, 100) == 8
    http.put(f"{url}/{pending['id']}", json={"status": "completed"}, timeout=10)
    assert _stock(http, store, 100) == 8  # once per order
    http.put(f"{url}/{pending['id']}", json={"status": "cancelled"}, timeout=10)
    assert _stock(http, store, 100) == 10  # restored
    http.put(f"{url}/{pending['id']}", json={"status": "processing"}, timeout=10)
    assert _stock(http, store, 100) == 8
    http.put(f"{url}/{pending['id']}", json={"status": "refunded"}, timeout=10)
    assert _stock(http, store, 100) == 8  # refunds do not restock

    on_hold = http.post(url, json={"status": "on-hold", "line_items": [{"product_id": 101, "quantity": 1}]},
                        timeout=10).json()
    assert on_hold["status"] == "on-hold" and _stock(http, store, 101) == 9
    paid = http.post(url, json={"set_paid": True, "customer_id": 1,
                                "line_items": [{"product_id": 102, "quantity": 3}]}, timeout=10).json()
    assert paid["status"] == "processing" and paid["date_paid_gmt"] == "2024-07-01T12:00:00"
    assert paid["customer_id"] == 1 and _stock(http, store, 102) == 7
    completed = http.post(url, json={"status": "completed", "line_items": [{"sku": "TEE-BLUE-L", "quantity": 1}]},
                          timeout=10).json()
    assert completed["line_items"][0]["variation_id"] == 109 and _stock(http, store, 109 // 1) == 9


def test_legacy_stock_date_modified_option(http, state, store):
    """The pre-10.x behaviour (issue #40060), kept behind ``legacy_stock_date_modified``."""
    sim(store, "PUT", "/options", {"legacy_stock_date_modified": True})
    before = http.get(f"{store.url}{API}/products/100", timeout=10).json()["date_modified_gmt"]
    state.clock.freeze(T0 + timedelta(hours=1))
    sim(store, "POST", "/orders", {"customer_id": 1, "line_items": [{"sku": "COF-001", "quantity": 1}]})
    after_order = http.get(f"{store.url}{API}/products/100", timeout=10).json()
    assert after_order["stock_quantity"] == 9 and after_order["date_modified_gmt"] == before
    http.put(f"{store.url}{API}/products/100", json={"stock_quantity": 20}, timeout=10)
    assert http.get(f"{store.url}{API}/products/100", timeout=10).json()["date_modified_gmt"] == before
    http.put(f"{store.url}{API}/products/100", json={"regular_price": "10.50"}, timeout=10)  # no-op save
    assert http.get(f"{store.url}{API}/products/100", timeout=10).json()["date_modified_gmt"] == before
    sim(store, "PUT", "/options", {"stock_bumps_modified": True})  # the old, inverse option name
    assert sim(store, "GET", "/state")["options"]["legacy_stock_date_modified"] is False
    sim(store, "POST", "/orders", {"customer_id": 1, "line_items": [{"sku": "COF-001", "quantity": 1}]})
    bumped = http.get(f"{store.url}{API}/products/100", timeout=10).json()
    assert bumped["stock_quantity"] == 19 and bumped["date_modified_gmt"] == "2024-07-01T13:00:00"


def test_sim_checkout_order(http, state, store):
    order = sim(store, "POST", "/orders", {
        "email": "ann@example.com", "line_items": [{"sku": "TEE-RED-M", "quantity": 2}],
        "user_agent": "Mozilla/5.0 (iPhone)", "acquisition_channel": "referral"})
    assert order["customer_id"] == 1 and order["created_via"] == "checkout"
    assert order["customer_user_agent"] == "Mozilla/5.0 (iPhone)" and order["status"] == "processing"
    assert {"key": "_wc_order_attribution_source_type", "value": "referral"} in [
        {"key": m["key"], "value": m["value"]} for m in order["meta_data"]]
    assert _stock(http, store, 106) == 8
    guest = sim(store, "POST", "/orders", {"email": "new@example.com", "line_items": [{"sku": "COF-005",
                                                                                        "quantity": 1}]})
    assert guest["customer_id"] == 0 and guest["billing"]["email"] == "new@example.com"


# --- customers -----------------------------------------------------------------------------------
def test_customers_email_filter_role_and_errors(http, state, store):
    found = get(http, store, "/customers", email="ANN@example.COM ".strip()).json()
    assert [c["id"] for c in found] == [1]
    assert get(http, store, "/customers", email="ann@example").status_code == 400
    assert get(http, store, "/customers", email="nn@example.com").json() == []
    with state.lock:
        admin = dict(state.customers[3], id=99, email="admin@example.com", role="administrator", username="admin")
        state.customers[99] = admin
        state.bump()  # direct record edits must invalidate cached listings
    assert 99 not in ids(get(http, store, "/customers"))
    assert 99 in ids(get(http, store, "/customers", role="all"))
    assert get(http, store, "/customers", role="wizard").status_code == 400
    created = http.post(f"{store.url}{API}/customers", json={"email": "zed@example.com", "first_name": "Zed",
                                                              "billing": {"phone": "+447700900999"}}, timeout=10)
    assert created.status_code == 201 and created.json()["billing"]["phone"] == "+447700900999"
    dup = http.post(f"{store.url}{API}/customers", json={"email": "ZED@example.com"}, timeout=10)
    assert dup.status_code == 400 and dup.json()["code"] == "registration-error-email-exists"
    missing = http.post(f"{store.url}{API}/customers", json={"first_name": "x"}, timeout=10)
    assert missing.status_code == 400 and missing.json()["code"] == "rest_missing_callback_param"
    assert http.put(f"{store.url}{API}/customers/4242", json={"first_name": "x"}, timeout=10).status_code == 400
    # default ordering: name ascending
    names = [c["username"] for c in get(http, store, "/customers").json()]
    assert names == sorted(names)


def test_sim_email_change_and_consent(http, state, store):
    assert sim(store, "PUT", "/clock", {"advance_seconds": 300})["now"] == "2024-07-01T12:05:00+00:00"
    summary = sim(store, "GET", "/state")
    assert summary["customers"] == 3 and summary["orders"]["completed"] == 2
    changed = sim(store, "PUT", "/customers/3/email", {"email": "cat.new@example.com"})
    assert changed["email"] == "cat.new@example.com" and changed["date_modified_gmt"] == "2024-07-01T12:05:00"
    opted = sim(store, "PUT", "/customers/1/consent", {"channel": "sms", "optout": True})
    meta = {m["key"]: m["value"] for m in opted["meta_data"]}
    assert meta["storeflow_sms_optout"] == {"optout": True, "changed_at_gmt": "2024-07-01T12:05:00"}
    fetched = http.get(f"{store.url}{API}/customers/1", timeout=10).json()
    assert {m["key"]: m["value"] for m in fetched["meta_data"]}["storeflow_sms_optout"]["optout"] is True


def test_state_round_trip(state):
    from storeflow_simulators.store_render import order_json, product_json

    state.set_consent(state.customers[2], "email", False)
    copy = StoreState.from_json(json.loads(json.dumps(state.to_json())))
    assert copy.options == state.options
    assert [product_json(copy, p) for p in copy.products.values()] == [
        product_json(state, p) for p in state.products.values()]
    assert [order_json(copy, o) for o in copy.orders.values()] == [order_json(state, o) for o in state.orders.values()]
    assert copy.customers == state.customers
    assert copy.find_sku_owner("TEE-BLUE-M")["id"] == 108


def test_seeded_world_realism():
    from storeflow_simulators.seed import generate_world

    world = generate_world(7, "tiny", datetime(2026, 11, 1, tzinfo=UTC))
    state = StoreState.from_world(world)
    online = [o for o in world.orders if o.channel == "online"]
    assert len(state.orders) == len({o.order_id for o in online})
    assert state.options.timezone == world.store_timezone
    published = {p["sku"] for p in state.products.values() if p["status"] == "publish" and p["sku"]}
    offline = {v.sku for p in world.products if not p.online for v in p.variations}
    assert not (published & offline)
    variable = [p for p in state.products.values() if p["type"] == "variable"]
    assert variable and all(p["variations"] and p["attributes"] for p in variable)
    feeding = {loc.location_id for loc in world.locations if loc.feeds_online and loc.status == "ACTIVE"}
    expected: dict[str, int] = {}
    for count in world.stock:
        if count.location_id in feeding:
            expected[count.variation_id] = expected.get(count.variation_id, 0) + count.quantity
    for product in world.products:
        for var in product.variations:
            rec = state.find_sku_owner(var.sku)
            assert rec is not None and rec["stock_quantity"] == expected.get(var.variation_id, 0)
    guests = [o for o in state.orders.values() if o["customer_id"] == 0]
    assert all(o["billing"]["email"] or o["billing"]["last_name"] for o in guests)
    totals_ok = [o for o in online if str(o.order_id) in {str(k) for k in state.orders}]
    for src in totals_ok[:50]:
        rec = state.orders[int(src.order_id)]
        lines_total = sum(li.quantity * li.unit_price_minor for li in src.lines
                          if state.find_sku_owner(li.sku) is not None)
        if lines_total == src.subtotal_minor:
            assert rec["total"] == src.total_minor, src.order_id


# --- webhooks --------------------------------------------------------------------------------------
@pytest.fixture
def receiver():
    """A local HTTP endpoint recording raw webhook deliveries; answers with ``reply["status"]``."""
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    from storeflow_simulators.serve import serve_in_thread

    got: list[dict] = []
    reply = {"status": 200}
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request):
        got.append({"headers": {k.lower(): v for k, v in request.headers.items()}, "body": await request.body()})
        return PlainTextResponse("ok", status_code=reply["status"])

    handle = serve_in_thread(app)
    yield handle.url + "/hook", got, reply
    handle.stop()


def _flush(store) -> None:
    assert sim(store, "POST", "/webhooks/flush")["flushed"]


def test_webhooks_ping_signed_delivery_and_deleted_payload(http, store, receiver):
    from storeflow.webhooks import verify_woocommerce

    url, got, _reply = receiver
    created = http.post(f"{store.url}{API}/webhooks", json={"topic": "order.created", "delivery_url": url,
                                                           "secret": "s3cret"}, timeout=10)
    assert created.status_code == 201 and created.json()["status"] == "active"
    assert created.json()["resource"] == "order" and "secret" not in created.json()
    ping = got.pop(0)
    assert ping["body"] == f"webhook_id={created.json()['id']}".encode()
    assert "x-wc-webhook-signature" not in ping["headers"]
    order = sim(store, "POST", "/orders", {"customer_id": 1, "line_items": [{"sku": "COF-001", "quantity": 1}]})
    _flush(store)
    assert len(got) == 1
    delivery = got[0]
    expected = base64.b64encode(hmac.new(b"s3cret", delivery["body"], hashlib.sha256).digest()).decode()
    assert delivery["headers"]["x-wc-webhook-signature"] == expected
    assert verify_woocommerce(delivery["body"], delivery["headers"]["x-wc-webhook-signature"], "s3cret")
    assert delivery["headers"]["x-wc-webhook-topic"] == "order.created"
    assert delivery["headers"]["x-wc-webhook-source"] == f"{store.url}/"
    body = json.loads(delivery["body"])
    fetched = http.get(f"{store.url}{API}/orders/{order['id']}", timeout=10).json()
    assert "_links" in fetched and "_links" not in body  # payloads are the object without its REST links
    assert body == {k: v for k, v in fetched.items() if k != "_links"}
    http.post(f"{store.url}{API}/webhooks", json={"topic": "product.deleted", "delivery_url": url, "secret": "k"},
              timeout=10)
    got.clear()
    http.delete(f"{store.url}{API}/products/104", params={"force": "true"}, timeout=10)
    _flush(store)
    assert [json.loads(d["body"]) for d in got] == [{"id": 104}]


def test_webhook_disabled_after_repeated_failures_and_failed_ping(http, store, receiver):
    url, got, reply = receiver
    hook = http.post(f"{store.url}{API}/webhooks", json={"topic": "product.updated", "delivery_url": url},
                     timeout=10).json()
    reply["status"] = 500
    for i in range(7):
        http.put(f"{store.url}{API}/products/100", json={"regular_price": f"{11 + i}.00"}, timeout=10)
        _flush(store)
    assert http.get(f"{store.url}{API}/webhooks/{hook['id']}", timeout=10).json()["status"] == "disabled"
    assert len(got) == 1 + 6  # the ping, then six failed deliveries; the seventh is not attempted
    refused = http.post(f"{store.url}{API}/webhooks", json={"topic": "customer.updated", "delivery_url": url},
                        timeout=10).json()
    assert refused["status"] == "disabled"  # the ping was not answered with 2xx
    bad = http.post(f"{store.url}{API}/webhooks", json={"topic": "order.exploded", "delivery_url": url}, timeout=10)
    assert bad.status_code == 400 and bad.json()["code"] == "woocommerce_rest_webhook_invalid_topic"
