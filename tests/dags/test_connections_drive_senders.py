"""The storeflow_smtp and storeflow_sms connections drive the campaign senders; without them, production fails
with the connection's name (no demo fallback)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from scripts.airflow_env import airflow_env
from storeflow_simulators.serve import serve_in_thread
from storeflow_simulators.sms import SmsState, create_sms_app

pytestmark = [pytest.mark.airflow]

PROBE = r"""
import json
from storeflow.campaigns.senders import OutboundMessage
from storeflow.settings import get_settings
from storeflow_airflow.resources import campaign_senders, task_resources

out = {}
try:
    senders = campaign_senders()
except Exception as exc:
    print("PROBE" + json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
    raise SystemExit(0)
out["sms_sender"] = senders["sms"] is not None
if senders["sms"] is None:
    try:
        task_resources().sms(get_settings())
    except Exception as exc:
        out["sms_error"] = str(exc)
else:
    with senders["sms"] as s:
        out["sms"] = s.send(OutboundMessage(message_key="k" * 64, channel="sms", to="+447700900111",
                                            campaign_id="t", customer_id="C1", body="Hi. Reply STOP to opt out."))
with senders["email"] as e:
    out["email"] = e.send(OutboundMessage(message_key="m" * 64, channel="email", to="c1@example.org",
                                          campaign_id="t", customer_id="C1", subject="Hi", text="Hi",
                                          html="<p>Hi</p>", unsubscribe_url="https://shop.example/u/x"))
print("PROBE" + json.dumps(out))
"""


class _Box:
    def __init__(self) -> None:
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.logins.append(session.auth_data.decode() if session.auth_data else "")
        return "250 OK"


def _auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"relay-user", b"relay-pass")
    return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)


@pytest.fixture
def relay():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = _Box()
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=_auth, auth_required=True,
                            auth_require_tls=False)
    controller.start()
    yield port, box
    controller.stop()


def _probe(tmp_path, extra: dict[str, str]) -> dict:
    env = airflow_env(tmp_path / "home", {"STOREFLOW_DATA_DIR": str(tmp_path / "data"), **extra})
    for var in ("STOREFLOW_SMS_ACCOUNT_SID", "STOREFLOW_SMS_AUTH_TOKEN", "AIRFLOW_CONN_STOREFLOW_SMS",
                "AIRFLOW_CONN_STOREFLOW_SMTP"):
        if var not in extra:
            env.pop(var, None)
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=180)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("PROBE")), None)
    assert line, result.stdout[-2000:] + result.stderr[-3000:]
    return json.loads(line[5:])


def test_connections_drive_the_senders(tmp_path, relay):
    port, box = relay
    state = SmsState(account_sid="ACrealaccount01", auth_token="real-token-from-connection")
    with serve_in_thread(create_sms_app(state)) as gateway:
        # demo profile only so that the loopback test gateway is allowed; the credentials are not the demo
        # ones, so a send proves the connection's login and password reached the gateway
        out = _probe(tmp_path, {
            "STOREFLOW_PROFILE": "demo",
            "AIRFLOW_CONN_STOREFLOW_SMTP": json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                                                        "login": "relay-user", "password": "relay-pass"}),
            "AIRFLOW_CONN_STOREFLOW_SMS": json.dumps({"conn_type": "http", "host": gateway.url,
                                                       "login": "ACrealaccount01",
                                                       "password": "real-token-from-connection",
                                                       "extra": {"from": "+447700900999"}}),
        })
    assert out["email"] and box.logins == ["relay-user"]  # the connection's login reached the relay
    assert out["sms_sender"] and out["sms"].startswith("SM")
    sent = [m for m in state.messages if m["direction"] == "outbound-api"]
    assert [m["from"] for m in sent] == ["+447700900999"]


def test_production_without_sms_credentials_names_the_connection(tmp_path, relay):
    port, _ = relay
    out = _probe(tmp_path, {
        "STOREFLOW_PROFILE": "production",
        "AIRFLOW_CONN_STOREFLOW_SMTP": json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                                                    "login": "relay-user", "password": "relay-pass"}),
    })
    assert out.get("sms_sender") is False, out
    assert "storeflow_sms" in out["sms_error"]
    assert out["email"]
