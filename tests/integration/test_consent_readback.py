"""Consent written to the store must stick (issue 11 item 7), against the store simulator over real HTTP.

Real WooCommerce answers 200 to customer meta whose key starts with ``_`` and stores nothing. storeflow
writes ``storeflow_<channel>_optout``, still reads the old ``_`` keys, reads every consent write back, and
a write that does not read back is an error: not marked pushed, the push fails after the other records,
and the next run retries it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import requests

from storeflow.connectors.woocommerce import ConsentNotStored, WooClient
from storeflow.connectors.woocommerce_models import CONSENT_META, LEGACY_CONSENT_META, Customer
from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow_simulators.faults import read_asgi_body
from storeflow_simulators.store import StoreState
from storeflow_simulators.store_testing import running_store, small_world

T0 = datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC)
CUSTOMER_PUT = re.compile(r"^/wp-json/wc/v3/customers/\d+$")


class DropCustomerMeta:
    """ASGI front that strips ``meta_data`` from customer PUTs (a host plugin filtering meta): the store
    still answers 200, like WooCommerce does for protected keys."""

    def __init__(self, app):
        self.app, self.dropped = app, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "PUT" or not CUSTOMER_PUT.match(scope["path"]):
            return await self.app(scope, receive, send)
        raw = await read_asgi_body(receive)
        body = json.loads(raw or b"{}")
        if body.pop("meta_data", None) is not None:
            self.dropped += 1
        data = json.dumps(body).encode()
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": data, "more_body": False}

        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(data)).encode()))
        return await self.app({**scope, "headers": headers}, replay, send)


@pytest.fixture
def state() -> StoreState:
    st = StoreState.from_world(small_world(T0))
    st.clock.freeze(T0)
    return st


def _raw_customer(url: str, cid: int) -> dict:
    woo = WooClient(url, DEMO_STORE_KEY, DEMO_STORE_SECRET)
    return woo.call("GET", f"/customers/{cid}")


def test_underscore_meta_is_dropped_by_the_store(state):
    """The trap itself: the old key answers 200 and is gone (simulator = WooCommerce 10.0.2)."""
    with running_store(state) as store:
        woo = WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET)
        value = {"optout": True, "changed_at_gmt": "2024-07-01T12:30:00"}
        answer = woo.call("PUT", "/customers/3", json={"meta_data": [{"key": "_storeflow_email_optout",
                                                                      "value": value}]})
        assert all(m["key"] != "_storeflow_email_optout" for m in answer["meta_data"])
        assert all(m["key"] != "_storeflow_email_optout" for m in _raw_customer(store.url, 3)["meta_data"])


def test_consent_uses_kept_keys_and_reads_back(state):
    with running_store(state) as store:
        woo = WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET)
        before = woo.stats.requests
        at = datetime(2024, 7, 1, 12, 30, 15, tzinfo=UTC)
        got = woo.set_customer_consents(3, {"email": True, "sms": True}, at)
        assert woo.stats.requests - before == 2  # the PUT and a read-back GET
        assert got.consent("email") == (True, at) and got.consent("sms") == (True, at)
        keys = [m["key"] for m in _raw_customer(store.url, 3)["meta_data"]]
        assert keys.count(CONSENT_META["email"]) == 1 and keys.count(CONSENT_META["sms"]) == 1
        later = at + timedelta(days=1)
        again = woo.set_customer_consent(3, "email", False, later)
        assert again.consent("email") == (False, later)
        keys = [m["key"] for m in _raw_customer(store.url, 3)["meta_data"]]
        assert keys.count(CONSENT_META["email"]) == 1  # replaced, not appended


def test_a_consent_write_that_does_not_stick_raises(state):
    fronts: list[DropCustomerMeta] = []
    with running_store(state, wrap=lambda app: fronts.append(DropCustomerMeta(app)) or fronts[0]) as store:
        woo = WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET)
        with pytest.raises(ConsentNotStored) as info:
            woo.set_customer_consent(3, "sms", True, T0)
    assert fronts[0].dropped == 1
    message = str(info.value)
    assert "customer 3" in message and CONSENT_META["sms"] in message and "@" not in message


def test_legacy_keys_are_still_read_and_the_later_choice_wins():
    old = {"optout": True, "changed_at_gmt": "2024-05-01T10:00:00"}
    new = {"optout": False, "changed_at_gmt": "2024-06-01T10:00:00"}
    only_old = Customer.model_validate({"id": 1, "meta_data": [{"key": LEGACY_CONSENT_META["email"],
                                                                "value": old}]})
    assert only_old.consent("email") == (True, datetime(2024, 5, 1, 10, tzinfo=UTC))
    assert only_old.stored_consent("email") is None  # what a write must read back is the new key
    both = Customer.model_validate({"id": 1, "meta_data": [{"key": LEGACY_CONSENT_META["email"], "value": old},
                                                           {"key": CONSENT_META["email"], "value": new}]})
    assert both.consent("email") == (False, datetime(2024, 6, 1, 10, tzinfo=UTC))
    newer_old = {**old, "changed_at_gmt": "2024-07-01T10:00:00"}
    flipped = Customer.model_validate({"id": 1, "meta_data": [{"key": CONSENT_META["email"], "value": new},
                                                              {"key": LEGACY_CONSENT_META["email"],
                                                               "value": newer_old}]})
    assert flipped.consent("email") == (True, datetime(2024, 7, 1, 10, tzinfo=UTC))


def test_consent_key_is_visible_to_the_shop_admin_export(state):
    """What the connector wrote is in the store's own state under the kept key (not only in our reads)."""
    with running_store(state) as store:
        woo = WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET)
        woo.set_customer_consent(2, "sms", True, T0)
        exported = requests.get(f"{store.url}/_sim/export", timeout=10).json()
    text = json.dumps(exported)
    assert CONSENT_META["sms"] in text
