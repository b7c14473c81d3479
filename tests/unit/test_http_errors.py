"""Fatal-error helpers of the shared HTTP client: safe URLs in messages, which connection errors are final."""

from __future__ import annotations

import socket

import pytest
import requests

from storeflow.connectors.http import JsonApiClient, fatal_connection_cause, safe_base_url


@pytest.mark.parametrize(("url", "safe"), [
    ("https://ck_key:cs_secret@shop.example/", "https://shop.example/"),
    ("http://127.0.0.1:8702?consumer_key=ck&consumer_secret=cs", "http://127.0.0.1:8702"),
    ("https://[::1]:8443/base#frag", "https://[::1]:8443/base"),
])
def test_safe_base_url_drops_credentials_and_query(url, safe):
    assert safe_base_url(url) == safe


def test_refused_and_dns_failures_are_final_but_resets_are_not():
    try:  # a real refused connection, wrapped by requests the way a failed request is
        requests.get("http://127.0.0.1:1/", timeout=2)
    except requests.ConnectionError as exc:
        assert fatal_connection_cause(exc) == "connection refused"
    else:
        pytest.fail("port 1 accepted a connection")
    dns = requests.ConnectionError(socket.gaierror(-2, "Name or service not known"))
    assert fatal_connection_cause(dns) == "host name could not be resolved"
    reset = requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))
    assert fatal_connection_cause(reset) is None


def test_client_describes_itself_without_secrets():
    client = JsonApiClient("https://user:pw@shop.example/api/", conn_id="storeflow_store")
    assert client.describe() == "storeflow_store (https://shop.example/api)"
    assert JsonApiClient("http://x.example").describe().startswith("JsonApiClient (")
