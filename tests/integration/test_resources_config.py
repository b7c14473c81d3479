"""One configuration path: connections (Airflow's own or AIRFLOW_CONN_* without Airflow) drive the clients, and
outside the demo profile a missing credential or a loopback address names the connection to set."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from storeflow.campaigns.providers import resource_senders
from storeflow.connectors.square import SquareClient
from storeflow.connectors.woocommerce import WooClient
from storeflow.profile import MissingCredential
from storeflow.resources import ConnectionFields, connection_from_env, pos_client, store_client
from storeflow.settings import get_settings
from storeflow_simulators.pos import PosState, create_pos_app
from storeflow_simulators.pos_sample import sample_world
from storeflow_simulators.serve import serve_in_thread
from storeflow_simulators.store import StoreState
from storeflow_simulators.store_testing import running_store, small_world

KEY, SECRET = "ck_from_the_connection", "cs_from_the_connection"
TOKEN = "pos-token-from-the-connection"


def _production(monkeypatch, **env):
    monkeypatch.setenv("STOREFLOW_PROFILE", "production")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def test_connection_from_env_reads_json_and_uri(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_STOREFLOW_STORE", json.dumps(
        {"conn_type": "storeflow_store", "host": "https://shop.example.com", "login": "ck", "password": "cs",
         "extra": {"auth": "basic", "ca_bundle": ""}}))
    store = connection_from_env("storeflow_store")
    assert store.base_url == "https://shop.example.com" and store.login == "ck" and store.verify() is True
    monkeypatch.setenv("AIRFLOW_CONN_STOREFLOW_POS", "http://:tok%2Fen@pos.example.com:8443/?ca_bundle=%2Fca.pem")
    pos = connection_from_env("storeflow_pos")
    assert pos.base_url == "http://pos.example.com:8443" and pos.password == "tok/en" and pos.verify() == "/ca.pem"
    assert connection_from_env("storeflow_nothing") is None
    with pytest.raises(ValueError, match="cannot be switched off"):
        ConnectionFields("x", extra={"verify": False}).verify()


def test_production_refuses_demo_fallbacks_naming_the_connection(monkeypatch):
    _production(monkeypatch)
    with pytest.raises(MissingCredential, match="storeflow_pos"):
        SquareClient.from_settings()
    with pytest.raises(MissingCredential, match="storeflow_store"):
        WooClient.from_settings()
    _production(monkeypatch, STOREFLOW_POS_URL="https://connect.squareup.com")
    with pytest.raises(MissingCredential, match="POS access token.*storeflow_pos.*STOREFLOW_POS_TOKEN"):
        SquareClient.from_settings()
    with pytest.raises(MissingCredential, match="storeflow_store"):
        store_client(ConnectionFields("storeflow_store", host="https://shop.example.com", login="ck"))
    with pytest.raises(MissingCredential, match="loopback"):
        store_client(None)


def test_demo_profile_falls_back_to_the_simulators(monkeypatch):
    monkeypatch.setenv("STOREFLOW_PROFILE", "demo")
    get_settings.cache_clear()
    assert SquareClient.from_settings().base_url.startswith("http://127.0.0.1")


def test_connections_drive_real_requests(monkeypatch):
    """Credentials that only the connection knows reach the POS and the store simulators."""
    store_state = StoreState.from_world(small_world())
    store_state.keys[KEY] = SECRET
    pos_state = PosState.from_world(sample_world(datetime(2026, 1, 15, 12, 0, tzinfo=UTC)))
    pos_state.config.tokens.append(TOKEN)
    with running_store(store_state) as store, serve_in_thread(create_pos_app(pos_state)) as pos:
        monkeypatch.setenv("AIRFLOW_CONN_STOREFLOW_STORE", json.dumps(
            {"conn_type": "storeflow_store", "host": store.url, "login": KEY, "password": SECRET}))
        monkeypatch.setenv("AIRFLOW_CONN_STOREFLOW_POS", json.dumps(
            {"conn_type": "storeflow_pos", "host": pos.url, "password": TOKEN}))
        woo = store_client(connection_from_env("storeflow_store"))
        square = pos_client(connection_from_env("storeflow_pos"))
        assert woo.conn_id == "storeflow_store" and woo.auth_method == "oauth1"  # plain HTTP: signed
        assert list(woo.list_products()) and square.list_locations()
        wrong = store_client(ConnectionFields("storeflow_store", host=store.url, login=KEY, password="nope"))
        with pytest.raises(Exception, match="storeflow_store"):
            list(wrong.list_products())


def test_resources_object_builds_every_part_from_the_connections(monkeypatch):
    """One object per task: clients, relay and senders all come from the connections it read once."""
    from storeflow.resources import Resources

    monkeypatch.setenv("AIRFLOW_CONN_STOREFLOW_SMTP", json.dumps(
        {"conn_type": "smtp", "host": "smtp.example.com", "port": 587, "login": "u", "password": "p",
         "extra": {"security": "starttls", "to": "ops@example.com"}}))
    monkeypatch.setenv("AIRFLOW_CONN_STOREFLOW_STORE", json.dumps(
        {"conn_type": "storeflow_store", "host": "https://shop.example.com", "login": "ck", "password": "cs"}))
    _production(monkeypatch)
    resources = Resources.from_env()
    assert set(resources.connections) == {"storeflow_smtp", "storeflow_store"}
    smtp = resources.smtp(get_settings())
    assert (smtp.host, smtp.port, smtp.security, smtp.alert_to) == ("smtp.example.com", 587, "starttls",
                                                                     ("ops@example.com",))
    store = resources.store_client()
    assert store.base_url == "https://shop.example.com" and store.auth_method == "basic"
    senders = resource_senders(resources, get_settings())
    assert senders["email"] is not None and senders["sms"] is None  # production, no storeflow_sms: no sender
    with pytest.raises(MissingCredential, match="storeflow_pos"):
        resources.pos_client()
