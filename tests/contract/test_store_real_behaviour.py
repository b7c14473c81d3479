"""The store simulator against ``woocommerce-real-behaviour.md`` (a real WooCommerce 10.0.2, measured).

One test per point of that reference, over real HTTP (and HTTPS) to the simulator. The site runs in
Europe/Paris in winter (UTC+1), so a test that confuses site-local and GMT time fails.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow_simulators.store import StoreState
from storeflow_simulators.store_testing import running_store
from tests.woo_signing import SdkOAuth

API = "/wp-json/wc/v3"
T0 = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)  # Paris = UTC+1 (winter)
DENIED_LIST = {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
               "data": {"status": 401}}


@pytest.fixture
def store_t0() -> datetime:
    return T0


def url(store, path: str) -> str:
    return f"{store.url}{API}{path}"


def sim(store, method: str, path: str, body=None):
    response = requests.request(method, f"{store.url}/_sim{path}", json=body, timeout=10)
    assert response.status_code < 300, response.text
    return response.json()


def meta_of(obj: dict) -> dict:
    return {m["key"]: m["value"] for m in obj["meta_data"]}


# --- consent and metadata ----------------------------------------------------------------------------
def test_protected_customer_meta_is_dropped_on_write_and_hidden_on_read(http, state, store):
    value = {"optout": True, "changed_at_gmt": "2026-12-06T12:00:00"}
    put = http.put(url(store, "/customers/1"), json={"meta_data": [{"key": "_storeflow_email_optout",
                                                                     "value": value}]}, timeout=10)
    assert put.status_code == 200
    assert "_storeflow_email_optout" not in meta_of(put.json())
    assert "_storeflow_email_optout" not in meta_of(http.get(url(store, "/customers/1"), timeout=10).json())
    assert all(m["key"] != "_storeflow_email_optout" for m in state.customers[1]["meta_data"])  # nothing stored
    # a protected key that is already stored (e.g. by a plugin) is not shown either
    state.customers[1]["meta_data"].append({"id": 9999, "key": "_hidden", "value": "x"})
    assert "_hidden" not in meta_of(http.get(url(store, "/customers/1"), timeout=10).json())
    # the same key without the underscore is stored and reads back
    ok = http.put(url(store, "/customers/1"), json={"meta_data": [{"key": "storeflow_email_optout",
                                                                    "value": value}]}, timeout=10)
    assert meta_of(ok.json())["storeflow_email_optout"] == value
    assert meta_of(http.get(url(store, "/customers/1"), timeout=10).json())["storeflow_email_optout"] == value
    # order meta set by WooCommerce itself with an underscore is returned
    order = http.get(url(store, "/orders/5001"), timeout=10).json()
    assert meta_of(order)["_wc_order_attribution_source_type"] == "utm"


def test_new_customer_carries_wordpress_user_meta(http, store):
    created = http.post(url(store, "/customers"), json={"email": "new.shopper@example.com"}, timeout=10)
    assert created.status_code == 201
    assert {"default_password_nag", "wc_last_active"} <= set(meta_of(created.json()))
    again = http.get(url(store, f"/customers/{created.json()['id']}"), timeout=10).json()
    assert {"default_password_nag", "wc_last_active"} <= set(meta_of(again))


def test_store_admin_consent_uses_unprefixed_meta_keys(http, store):
    sim(store, "PUT", "/customers/2/consent", {"channel": "email", "optout": True})
    sim(store, "PUT", "/customers/2/consent", {"channel": "sms", "optout": False})
    meta = meta_of(http.get(url(store, "/customers/2"), timeout=10).json())
    assert meta["storeflow_email_optout"] == {"optout": True, "changed_at_gmt": "2026-12-06T12:00:00"}
    assert meta["storeflow_sms_optout"]["optout"] is False
    assert not any(k.startswith("_storeflow") for k in meta)


# --- authentication ------------------------------------------------------------------------------------
def test_plain_http_refuses_basic_and_query_keys_and_accepts_oauth(store):
    target = url(store, "/products")
    for attempt in (
        requests.get(target, auth=(DEMO_STORE_KEY, DEMO_STORE_SECRET), timeout=10),
        requests.get(target, params={"consumer_key": DEMO_STORE_KEY, "consumer_secret": DEMO_STORE_SECRET},
                     timeout=10),
    ):
        assert attempt.status_code == 401 and attempt.json() == DENIED_LIST
    single = requests.get(url(store, "/products/100"), auth=(DEMO_STORE_KEY, DEMO_STORE_SECRET), timeout=10)
    assert single.status_code == 401 and single.json()["message"] == "Sorry, you cannot view this resource."
    signed = requests.get(target, auth=SdkOAuth(), timeout=10)
    assert signed.status_code == 200 and len(signed.json()) == 7


def test_oauth_in_authorization_header_is_accepted(store):
    """``WC_REST_Authentication`` also reads ``oauth_*`` from an ``Authorization: OAuth`` header."""
    from woocommerce.oauth import OAuth

    signed = OAuth(url=url(store, "/products?per_page=2"), consumer_key=DEMO_STORE_KEY,
                   consumer_secret=DEMO_STORE_SECRET, version="wc/v3", method="GET",
                   oauth_timestamp=int(time.time())).get_oauth_url()
    params = dict(parse_qsl(urlsplit(signed).query))
    oauth = {k: v for k, v in params.items() if k.startswith("oauth_")}
    header = "OAuth " + ", ".join(f'{k}="{requests.utils.quote(v, safe="")}"' for k, v in oauth.items())
    ok = requests.get(url(store, "/products"), params={"per_page": "2"}, headers={"Authorization": header},
                      timeout=10)
    assert ok.status_code == 200, ok.text
    assert len(ok.json()) == 2
    tampered = requests.get(url(store, "/products"), params={"per_page": "3"},
                            headers={"Authorization": header.replace(oauth["oauth_nonce"], "other")}, timeout=10)
    assert tampered.status_code == 401


def test_https_accepts_basic_and_query_keys_with_verified_tls(state):
    with running_store(state, https=True) as tls:
        assert tls.url.startswith("https://") and tls.ca_file is not None
        target = f"{tls.url}{API}/products"
        basic = requests.get(target, auth=(DEMO_STORE_KEY, DEMO_STORE_SECRET), verify=str(tls.ca_file), timeout=10)
        assert basic.status_code == 200 and len(basic.json()) == 7
        query = requests.get(target, params={"consumer_key": DEMO_STORE_KEY, "consumer_secret": DEMO_STORE_SECRET,
                                             "per_page": 2}, verify=str(tls.ca_file), timeout=10)
        assert query.status_code == 200
        # query keys are echoed in the paging Link header (never log response headers verbatim)
        assert "consumer_secret=" in query.headers["Link"]
        # unknown key with Basic or query keys: the endpoint's own 401, not "Consumer key is invalid."
        for unknown in (
            requests.get(target, auth=("ck_unknown", "cs_x"), verify=str(tls.ca_file), timeout=10),
            requests.get(target, params={"consumer_key": "ck_unknown", "consumer_secret": "cs_x"},
                         verify=str(tls.ca_file), timeout=10),
        ):
            assert unknown.status_code == 401 and unknown.json() == DENIED_LIST
        wrong = requests.get(target, auth=(DEMO_STORE_KEY, "cs_wrong"), verify=str(tls.ca_file), timeout=10)
        assert wrong.status_code == 401
        assert wrong.json() == {"code": "woocommerce_rest_authentication_error",
                                "message": "Consumer secret is invalid.", "data": {"status": 401}}
        # certificate verification is on: without the CA bundle the connection is refused
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(target, auth=(DEMO_STORE_KEY, DEMO_STORE_SECRET), timeout=10)
        # links use the https scheme
        assert f'<{tls.url}/wp-json/>; rel="https://api.w.org/"' in basic.headers["Link"]


def test_official_sdk_over_https_uses_basic(state):
    from woocommerce import API as WooAPI

    with running_store(state, https=True) as tls:
        wc = WooAPI(url=tls.url, consumer_key=DEMO_STORE_KEY, consumer_secret=DEMO_STORE_SECRET, version="wc/v3",
                    verify_ssl=str(tls.ca_file), timeout=10)
        response = wc.get("products", params={"sku": "COF-001"})
        assert response.status_code == 200 and response.json()[0]["id"] == 100


def test_behind_tls_proxy_honours_x_forwarded_proto(state):
    with running_store(state, behind_tls_proxy=True) as proxied:
        target = f"{proxied.url}{API}/products"
        via_tls = requests.get(target, auth=(DEMO_STORE_KEY, DEMO_STORE_SECRET),
                               headers={"X-Forwarded-Proto": "https"}, timeout=10)
        assert via_tls.status_code == 200
        plain = requests.get(target, auth=(DEMO_STORE_KEY, DEMO_STORE_SECRET), timeout=10)
        assert plain.status_code == 401 and plain.json() == DENIED_LIST
    with running_store(state, behind_tls_proxy=False) as untold:  # the site was not told: plain HTTP
        spoofed = requests.get(f"{untold.url}{API}/products", auth=(DEMO_STORE_KEY, DEMO_STORE_SECRET),
                               headers={"X-Forwarded-Proto": "https"}, timeout=10)
        assert spoofed.status_code == 401


def test_unknown_oauth_key_and_wrong_oauth_secret(store):
    target = url(store, "/products")
    unknown = requests.get(target, auth=SdkOAuth("ck_unknown", "cs_x"), timeout=10)
    assert unknown.status_code == 401 and unknown.json()["message"] == "Consumer key is invalid."
    wrong = requests.get(target, auth=SdkOAuth(DEMO_STORE_KEY, "cs_wrong"), timeout=10)
    assert wrong.status_code == 401
    assert wrong.json()["message"] == "Invalid signature - provided signature does not match."


# --- change signals ------------------------------------------------------------------------------------
def _modified(http, store, path: str) -> str:
    return http.get(url(store, path), timeout=10).json()["date_modified_gmt"]


def test_date_modified_moves_on_stock_only_batches_and_no_op_saves(http, state, store):
    seeded = _modified(http, store, "/products/100")
    assert seeded < "2026-12-06T12:00:00"
    step = iter(range(1, 100))

    def tick() -> str:
        at = T0 + timedelta(minutes=next(step))
        state.clock.freeze(at)
        return at.replace(tzinfo=None).isoformat()

    at = tick()
    http.post(url(store, "/products/batch"), json={"update": [{"id": 100, "stock_quantity": 3}]}, timeout=10)
    assert _modified(http, store, "/products/100") == at
    at = tick()
    http.post(url(store, "/products/105/variations/batch"), json={"update": [{"id": 106, "stock_quantity": 4}]},
              timeout=10)
    assert _modified(http, store, "/products/105/variations/106") == at
    assert _modified(http, store, "/products/105") == at  # a variation update also moves its parent
    at = tick()
    http.put(url(store, "/products/101"), json={"regular_price": "10.10"}, timeout=10)  # unchanged price
    assert _modified(http, store, "/products/101") == at


def test_date_modified_moves_on_order_stock_changes(http, state, store):
    state.clock.freeze(T0 + timedelta(minutes=1))
    paid = http.post(url(store, "/orders"), json={"set_paid": True,
                                                  "line_items": [{"product_id": 102, "quantity": 1}]}, timeout=10)
    assert paid.status_code == 201
    assert _modified(http, store, "/products/102") == "2026-12-06T12:01:00"
    pending = http.post(url(store, "/orders"), json={"line_items": [{"sku": "TEE-RED-L", "quantity": 1}]},
                        timeout=10).json()
    state.clock.freeze(T0 + timedelta(minutes=2))
    http.put(url(store, f"/orders/{pending['id']}"), json={"status": "processing"}, timeout=10)
    assert _modified(http, store, "/products/105/variations/107") == "2026-12-06T12:02:00"
    assert _modified(http, store, "/products/105") == "2026-12-06T12:02:00"
    state.clock.freeze(T0 + timedelta(minutes=3))
    stock = http.get(url(store, "/products/105/variations/107"), timeout=10).json()["stock_quantity"]
    http.put(url(store, f"/orders/{pending['id']}"), json={"status": "cancelled"}, timeout=10)
    restocked = http.get(url(store, "/products/105/variations/107"), timeout=10).json()
    assert restocked["stock_quantity"] == stock + 1 and restocked["date_modified_gmt"] == "2026-12-06T12:03:00"
    state.clock.freeze(T0 + timedelta(minutes=4))
    sim(store, "POST", "/orders", {"customer_id": 1, "line_items": [{"sku": "COF-004", "quantity": 1}]})  # checkout
    assert _modified(http, store, "/products/103") == "2026-12-06T12:04:00"
    # a windowed re-read sees these writes
    changed = http.get(url(store, "/products"), params={"modified_after": "2026-12-06T12:00:30",
                                                       "dates_are_gmt": "true", "orderby": "id", "order": "asc"},
                       timeout=10).json()
    assert [p["id"] for p in changed] == [102, 103, 105]


def test_modified_window_is_exclusive_and_read_in_site_local_time(http, store):
    sim(store, "POST", "/products/touch", {"ids": [101]})  # modified at 12:00:00 UTC = 13:00:00 in Paris
    product = http.get(url(store, "/products/101"), timeout=10).json()
    assert product["date_modified_gmt"] == "2026-12-06T12:00:00"
    assert product["date_modified"] == "2026-12-06T13:00:00"  # site offset +1 h in winter

    def hit(**params) -> bool:
        rows = http.get(url(store, "/products"), params={**params, "per_page": 100}, timeout=10).json()
        return 101 in [r["id"] for r in rows]

    # exclusive bounds, with Z or +00:00
    for suffix in ("Z", "+00:00"):
        assert not hit(modified_after=f"2026-12-06T12:00:00{suffix}")
        assert hit(modified_after=f"2026-12-06T11:59:59{suffix}")
        assert not hit(modified_before=f"2026-12-06T12:00:00{suffix}")
        assert hit(modified_before=f"2026-12-06T12:00:01{suffix}")
    assert not hit(modified_after="2026-12-06T12:00:00", dates_are_gmt="true")
    assert hit(modified_after="2026-12-06T11:59:59", dates_are_gmt="true")
    # without dates_are_gmt a naive GMT string is read as Paris time: it matches different rows
    assert hit(modified_after="2026-12-06T12:30:00")  # 12:30 Paris = 11:30 UTC < 12:00 UTC
    assert not hit(modified_after="2026-12-06T12:30:00", dates_are_gmt="true")
    assert not hit(modified_after="2026-12-06T13:00:00")


# --- variations ------------------------------------------------------------------------------------------
def test_all_variations_route_depends_on_version(http, state, store):
    missing = http.get(url(store, "/variations"), timeout=10)
    assert missing.status_code == 404 and missing.json()["code"] == "rest_no_route"
    assert "Allow" not in missing.headers
    index = requests.get(f"{store.url}/wp-json/", timeout=10).json()
    assert "/wc/v3/variations" not in index["routes"] and index["timezone_string"] == "Europe/Paris"
    assert index["gmt_offset"] == 1
    assert http.get(url(store, "/products/105/variations"), timeout=10).status_code == 200
    sim(store, "PUT", "/options", {"wc_version": "10.3.0"})
    served = http.get(url(store, "/variations"), params={"orderby": "id", "order": "asc"}, timeout=10)
    assert served.status_code == 200 and [v["id"] for v in served.json()] == [106, 107, 108, 109]
    assert all(v["type"] == "variation" and v["parent_id"] == 105 for v in served.json())
    assert "/wc/v3/variations" in requests.get(f"{store.url}/wp-json/", timeout=10).json()["routes"]


def test_variation_shape_in_list_batch_and_single(http, store):
    def check(v: dict, sku: str, name: str) -> None:
        assert v["sku"] == sku and v["type"] == "variation" and v["parent_id"] == 105 and v["name"] == name
        for attr in v["attributes"]:
            assert set(attr) == {"id", "name", "slug", "option"}
            assert isinstance(attr["id"], int) and attr["slug"] == attr["name"].lower()

    listed = http.get(url(store, "/products/105/variations"), params={"orderby": "id", "order": "asc"},
                      timeout=10).json()
    check(listed[0], "TEE-RED-M", "RED, M")
    check(http.get(url(store, "/products/105/variations/109"), timeout=10).json(), "TEE-BLUE-L", "BLUE, L")
    batch = http.post(url(store, "/products/105/variations/batch"), json={
        "update": [{"id": 107, "stock_quantity": 2}],
        "create": [{"sku": "TEE-GREEN-M", "regular_price": "20.00",
                    "attributes": [{"id": 0, "name": "Colour", "option": "GREEN"}, {"name": "Size", "option": "M"}]}],
    }, timeout=10).json()
    check(batch["update"][0], "TEE-RED-L", "RED, L")
    check(batch["create"][0], "TEE-GREEN-M", "GREEN, M")


# --- validation of writes ----------------------------------------------------------------------------------
def test_prices_must_be_strings(http, state, store):
    reason = "regular_price is not of type string."
    number = http.put(url(store, "/products/100"), json={"regular_price": 12.5}, timeout=10)
    assert number.status_code == 400
    assert number.json() == {"code": "rest_invalid_param", "message": "Invalid parameter(s): regular_price",
                             "data": {"status": 400, "params": {"regular_price": reason},
                                      "details": {"regular_price": {"code": "rest_invalid_type", "message": reason,
                                                                    "data": None}}}}
    assert http.get(url(store, "/products/100"), timeout=10).json()["regular_price"] == "10.50"  # unchanged
    created = http.post(url(store, "/products"), json={"name": "Mug", "regular_price": 7}, timeout=10)
    assert created.status_code == 400 and created.json()["code"] == "rest_invalid_param"
    batch = http.post(url(store, "/products/batch"), json={"update": [{"id": 101, "regular_price": 9},
                                                                      {"id": 102, "regular_price": "9.00"}]},
                      timeout=10).json()
    assert batch["update"][0]["error"]["code"] == "rest_invalid_param"
    assert batch["update"][1]["regular_price"] == "9.00"
    assert http.put(url(store, "/products/100"), json={"regular_price": "12.50"}, timeout=10).status_code == 200


def test_bad_stock_value_is_400_not_500(http, store):
    for path in ("/products/100", "/products/105/variations/106"):
        bad = http.put(url(store, path), json={"stock_quantity": "abc"}, timeout=10)
        assert bad.status_code == 400, bad.text
        assert bad.headers["Content-Type"] == "application/json; charset=UTF-8"
        assert bad.json()["code"] == "rest_invalid_param"
        assert bad.json()["data"]["params"] == {"stock_quantity": "stock_quantity is not of type integer."}
    batch = http.post(url(store, "/products/batch"), json={"update": [{"id": 100, "stock_quantity": "abc"}]},
                      timeout=10)
    assert batch.status_code == 200 and batch.json()["update"][0]["error"]["code"] == "rest_invalid_param"
    assert http.put(url(store, "/products/100"), json={"stock_quantity": "7"}, timeout=10).json()[
        "stock_quantity"] == 7


def test_batch_over_100_items_is_413(http, store):
    for path in ("/products/batch", "/products/105/variations/batch", "/customers/batch", "/orders/batch"):
        response = http.post(url(store, path), json={"update": [{"id": 1}] * 101}, timeout=10)
        assert response.status_code == 413, path
        assert response.json()["code"] == "woocommerce_rest_request_entity_too_large"


def test_duplicate_email_wording_and_json_syntax_error(http, store):
    dup = http.post(url(store, "/customers"), json={"email": "bob@example.com"}, timeout=10)
    assert dup.status_code == 400
    assert dup.json() == {"code": "registration-error-email-exists",
                          "message": "An account is already registered with bob@example.com. Please log in or "
                                     "use a different email address.", "data": {"status": 400}}
    broken = http.put(url(store, "/products/100"), data='{"name": "x",}',
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert broken.status_code == 400
    assert broken.json()["code"] == "rest_invalid_json"
    assert broken.json()["data"]["json_error_message"] == "Syntax error"


# --- paging and headers ----------------------------------------------------------------------------------
def _paging_links(response) -> dict[str, str]:
    return {rel: link for link, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("Link", ""))}


def test_offset_and_page_past_the_end(http, store):
    for path in ("/products", "/orders"):
        past = http.get(url(store, path), params={"offset": 50, "per_page": 2}, timeout=10)
        assert past.status_code == 200 and past.json() == []
        assert past.headers["X-WP-Total"] == "0" and past.headers["X-WP-TotalPages"] == "0"
        assert _paging_links(past) == {}
        assert 'rel="https://api.w.org/"' in past.headers["Link"]
        page = http.get(url(store, path), params={"page": 50, "per_page": 2}, timeout=10)
        assert page.json() == [] and int(page.headers["X-WP-Total"]) > 0
        assert page.headers["X-WP-TotalPages"] == str(-(-int(page.headers["X-WP-Total"]) // 2))


def test_every_response_carries_wp_headers(http, store):
    responses = {
        "list": (http.get(url(store, "/products"), timeout=10), "GET, POST"),
        "item": (http.get(url(store, "/products/100"), timeout=10), "GET, POST, PUT, PATCH, DELETE"),
        "variations": (http.get(url(store, "/products/105/variations"), timeout=10), "GET, POST"),
        "batch": (http.post(url(store, "/customers/batch"), json={}, timeout=10), "POST, PUT, PATCH"),
        "missing": (http.get(url(store, "/orders/424242"), timeout=10), "GET, POST, PUT, PATCH, DELETE"),
        "no route": (http.get(url(store, "/nothing-here"), timeout=10), None),
        # WordPress lists only the methods the caller may use: none without credentials
        "unauthenticated": (requests.get(url(store, "/customers"), timeout=10), None),
    }
    for name, (response, allow) in responses.items():
        assert response.headers["Content-Type"] == "application/json; charset=UTF-8", name
        assert f'<{store.url}/wp-json/>; rel="https://api.w.org/"' in response.headers["Link"], name
        assert response.headers.get("Allow") == allow, name


def test_paging_links_normalise_dates_are_gmt(http, store):
    response = http.get(url(store, "/products"), params={"per_page": 2, "dates_are_gmt": "true",
                                                         "modified_after": "2020-01-01T00:00:00"}, timeout=10)
    links = _paging_links(response)
    assert set(links) == {"next"}
    query = dict(parse_qsl(urlsplit(links["next"]).query))
    assert query["dates_are_gmt"] == "1" and query["page"] == "2"


def test_fields_still_returns_links(http, store):
    rows = http.get(url(store, "/products"), params={"_fields": "sku", "per_page": 2, "orderby": "id",
                                                     "order": "asc"}, timeout=10).json()
    assert [set(r) for r in rows] == [{"id", "sku", "_links"}] * 2
    assert rows[0]["_links"]["self"][0]["href"] == f"{store.url}{API}/products/100"


# --- objects ------------------------------------------------------------------------------------------------
def test_new_product_is_uncategorized_with_pretty_permalink(http, store):
    created = http.post(url(store, "/products"), json={"name": "Travel Mug", "regular_price": "9.00"}, timeout=10)
    assert created.status_code == 201
    body = created.json()
    assert body["categories"] == [{"id": 15, "name": "Uncategorized", "slug": "uncategorized"}]
    assert body["permalink"] == f"{store.url}/product/travel-mug/"
    extras = {"price_html", "brands", "global_unique_id", "related_ids", "upsell_ids", "cross_sell_ids",
              "shipping_taxable", "shipping_class", "shipping_class_id", "downloads", "_links"}
    assert extras <= set(body) and len(body) >= 70
    assert isinstance(body["brands"], list) and isinstance(body["global_unique_id"], str)
    assert "9.00" in body["price_html"]
    seeded = http.get(url(store, "/products/100"), timeout=10).json()
    assert [c["name"] for c in seeded["categories"]] == ["Coffee"]


def test_role_all_includes_the_administrator(http, store):
    default = http.get(url(store, "/customers"), params={"per_page": 100}, timeout=10).json()
    assert all(c["role"] == "customer" for c in default)
    everyone = http.get(url(store, "/customers"), params={"role": "all", "per_page": 100}, timeout=10).json()
    admins = [c for c in everyone if c["role"] == "administrator"]
    assert len(admins) == 1
    assert admins[0]["date_modified_gmt"] is None and admins[0]["date_modified"] is None
    assert admins[0]["date_created_gmt"] is not None
    assert len(everyone) == len(default) + 1


def test_delete_without_force_returns_pre_trash_status(http, store):
    product = http.delete(url(store, "/products/101"), timeout=10)
    assert product.status_code == 200 and product.json()["status"] == "publish"
    assert http.get(url(store, "/products/101"), timeout=10).json()["status"] == "trash"
    order = http.delete(url(store, "/orders/5001"), timeout=10)
    assert order.status_code == 200 and order.json()["status"] == "completed"
    assert http.get(url(store, "/orders/5001"), timeout=10).json()["status"] == "trash"


def test_orders_share_the_post_id_sequence_with_products(http, store):
    first = http.post(url(store, "/products"), json={"name": "A", "regular_price": "1.00"}, timeout=10).json()
    order = http.post(url(store, "/orders"), json={"line_items": [{"product_id": 100, "quantity": 1}]},
                      timeout=10).json()
    second = http.post(url(store, "/products"), json={"name": "B", "regular_price": "1.00"}, timeout=10).json()
    assert first["id"] < order["id"] < second["id"]
    assert order["id"] == first["id"] + 1 and second["id"] == order["id"] + 1
    assert http.get(url(store, f"/products/{order['id']}"), timeout=10).status_code == 404
    assert http.get(url(store, f"/orders/{first['id']}"), timeout=10).status_code == 404


def test_saved_state_keeps_behaviour(state):
    state.options.wc_version = "10.3.1"
    copy = StoreState.from_json(json.loads(json.dumps(state.to_json())))
    assert copy.options == state.options
    assert sum(c["role"] == "administrator" for c in copy.customers.values()) == 1
    old = state.to_json()
    old["options"].pop("legacy_stock_date_modified")
    old["options"]["stock_bumps_modified"] = False  # a state saved before the option was renamed
    assert StoreState.from_json(old).options.legacy_stock_date_modified is True


# --- the simulator cluster (demo and e2e) ------------------------------------------------------------------
def test_cluster_store_defaults_to_paris_and_can_serve_https():
    from storeflow_simulators.cluster import EPHEMERAL_PORTS, SimulatorCluster

    with SimulatorCluster(seed=3, scale="tiny", ports=EPHEMERAL_PORTS, components=("store",),
                          store_https=True) as sims:
        assert sims.store_url.startswith("https://")
        ca = sims.env()["STOREFLOW_STORE_CA_BUNDLE"]
        assert ca == str(sims.store_ca_file)
        index = requests.get(f"{sims.store_url}/wp-json/", verify=ca, timeout=10).json()
        assert index["timezone_string"] == "Europe/Paris"
        status = requests.get(f"{sims.store_url}{API}/system_status", auth=(DEMO_STORE_KEY, DEMO_STORE_SECRET),
                              verify=ca, timeout=10)
        assert status.status_code == 200
        assert status.json()["environment"]["version"] == "10.0.2"
        assert status.json()["security"]["secure_connection"] is True
        store = sims.store_state  # the generated World's orders keep their ids, products avoid them
        assert store.orders and not set(store.orders) & set(store.products)
        online = {o.order_id for o in sims.world.orders if o.channel == "online"}
        assert {str(i) for i in store.orders} <= online


def test_requests_oauthlib_signatures_work_in_query_and_header(store):
    """The well-kept OAuth library storeflow's client uses, in both placements WooCommerce reads."""
    from requests_oauthlib import OAuth1

    from storeflow_simulators.store_testing import store_oauth1

    query = requests.get(url(store, "/products"), params={"per_page": 3, "modified_after": "2020-01-01T00:00:00Z"},
                         auth=store_oauth1(), timeout=10)
    assert query.status_code == 200, query.text
    assert len(query.json()) == 3
    header = OAuth1(DEMO_STORE_KEY, DEMO_STORE_SECRET, signature_method="HMAC-SHA1")
    put = requests.put(url(store, "/products/100"), json={"regular_price": "11.00"}, auth=header, timeout=10)
    assert put.status_code == 200 and put.json()["regular_price"] == "11.00"
    wrong = requests.get(url(store, "/products"), auth=store_oauth1(secret="cs_wrong"), timeout=10)
    assert wrong.status_code == 401
