"""A real relay: SMTP AUTH over STARTTLS and implicit TLS, certificate checks, and refused credentials."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from storeflow.campaigns.senders import OutboundMessage, SenderUnavailable
from storeflow.campaigns.senders_smtp import SmtpEmailSender
from storeflow.resources import SmtpConfig
from storeflow.settings import get_settings

USER, PASSWORD = "relay-user", "relay-password-0123"


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost."""
    import ipaddress

    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                               x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Mailbox:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        with self.lock:
            self.received.append((session.auth_data.decode() if session.auth_data else "",
                                  list(envelope.rcpt_tos)))
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER \
        and auth_data.password.decode() == PASSWORD
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def relay(cert, request):
    """An aiosmtpd relay that requires AUTH, offered only after TLS (STARTTLS or implicit)."""
    mode = request.param
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(*map(str, cert))
    box = _Mailbox()
    # aiosmtpd only counts STARTTLS as TLS for auth_require_tls; with implicit TLS the whole socket is TLS
    kwargs = dict(hostname="127.0.0.1", port=_free_port(), authenticator=_authenticator, auth_required=True,
                  auth_require_tls=mode == "starttls")
    if mode == "starttls":
        controller = Controller(box, tls_context=tls, require_starttls=True, **kwargs)
    else:
        controller = Controller(box, ssl_context=tls, **kwargs)
    controller.start()
    yield mode, controller, box
    controller.stop()


def _message() -> OutboundMessage:
    return OutboundMessage(message_key="a" * 64, channel="email", to="c1@example.org", campaign_id="t",
                           customer_id="C1", subject="Hi", text="Hi", html="<p>Hi</p>",
                           unsubscribe_url="https://shop.example/u/x")


def _sender(controller, mode, cert, password=PASSWORD, ca=True) -> SmtpEmailSender:
    config = SmtpConfig(host="127.0.0.1", port=controller.port, username=USER, password=password, security=mode,
                        ca_bundle=str(cert[0]) if ca else None)
    return SmtpEmailSender.from_config(config, get_settings())


@pytest.mark.parametrize("relay", ["starttls", "ssl"], indirect=True)
def test_authenticated_send_over_tls(relay, cert):
    mode, controller, box = relay
    with _sender(controller, mode, cert) as sender:
        sender.send(_message())
    assert box.received == [(USER, ["c1@example.org"])]


@pytest.mark.parametrize("relay", ["starttls", "ssl"], indirect=True)
def test_refused_credentials_and_untrusted_certificates_make_the_sender_unavailable(relay, cert):
    mode, controller, box = relay
    with pytest.raises(SenderUnavailable) as refused:
        _sender(controller, mode, cert, password="wrong-password").check()
    assert "wrong-password" not in str(refused.value)
    with pytest.raises(SenderUnavailable, match="(?i)certificate"):
        _sender(controller, mode, cert, ca=False).check()  # the self-signed CA is not trusted by default
    _sender(controller, mode, cert).check()
    assert box.received == []


def test_smtp_connection_fields_build_the_config(monkeypatch):
    settings = get_settings()
    config = SmtpConfig.from_connection(host="smtp.example.com", port=587, login="u", password="p",
                                        extra={"security": "STARTTLS", "from": "ops@example.com",
                                               "to": "a@example.com, b@example.com"}, settings=settings)
    assert (config.host, config.port, config.security) == ("smtp.example.com", 587, "starttls")
    assert config.alert_to == ("a@example.com", "b@example.com")
    assert config.password == "p" and "password" not in repr(config)
    assert SmtpConfig.from_connection(host="h", port=465, login=None, password=None, extra={"ssl": True},
                                      settings=settings).security == "ssl"
    with pytest.raises(ValueError, match="extra.security"):
        SmtpConfig.from_connection(host="h", port=25, login=None, password=None, extra={"security": "tls13"},
                                   settings=settings)
