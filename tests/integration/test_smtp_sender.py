"""The SMTP sender over real sockets: wire format, pipelined batches, refusals and lost connections."""

from __future__ import annotations

import email
import email.policy
import socket
import threading

import pytest
from aiosmtpd.controller import Controller

from storeflow.campaigns.senders import (
    MESSAGE_KEY_HEADER,
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
    build_email,
)
from storeflow.campaigns.senders_smtp import SmtpEmailSender
from storeflow_simulators.smtp_sink import PipeliningHandler


def _message(i: int, to: str | None = None, **kw) -> OutboundMessage:
    fields = {"subject": f"Hello {i}", "text": f"Hi number {i}\n.a line starting with a dot\n",
              "html": f"<html><body><p>Hi number {i}</p>\n.dot</body></html>",
              "unsubscribe_url": f"https://shop.example/u/token{i}"}
    fields.update(kw)
    return OutboundMessage(message_key=f"{i:064x}", channel="email", to=to or f"c{i}@example.org",
                           campaign_id="test", customer_id=f"C{i}", **fields)


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


# --- wire format -----------------------------------------------------------------------------------
def test_build_email_round_trips_headers_and_bodies():
    text = "Grüße, Zoë!\nx = y  \n" + "long words " * 30 + "\n=_storeflow_ is just text\n"
    html = "<p>Grüße</p>\n" + "<b>long</b> " * 40
    msg = _message(7, subject="Zoë, 10 % off — today", text=text, html=html, headers={"X-Extra": "ü"})
    raw = build_email(msg, from_addr="shop@example.com", from_name="Müller's Shop", domain="example.com",
                      mailto="unsub@example.com")
    assert raw.isascii() and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    parsed = _parse(raw)
    assert parsed.defects == []
    assert parsed["Subject"] == "Zoë, 10 % off — today"
    assert parsed["From"].addresses[0].display_name == "Müller's Shop"
    assert parsed[MESSAGE_KEY_HEADER] == msg.message_key
    assert parsed["Message-ID"] == f"<{msg.message_key}@example.com>"
    assert parsed["List-Unsubscribe"] == ("<https://shop.example/u/token7>, "
                                          "<mailto:unsub@example.com?subject=unsubscribe>")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["X-Extra"] == "ü"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().replace("\r\n", "\n") == text.rstrip("\n")
    assert parts[1].get_content().replace("\r\n", "\n") == html


def test_build_email_refuses_header_injection():
    raw = build_email(_message(1, subject="Hi\r\nBcc: victim@example.org", headers={"X-A": "a\nTo: b@x.org"}),
                      from_addr="shop@example.com", from_name="Shop\r\nCc: x@example.org", domain="example.com")
    parsed = _parse(raw)
    assert parsed["Bcc"] is None and parsed["Cc"] is None
    assert parsed.get_all("To") == ["c1@example.org"]
    assert "victim@example.org" in parsed["Subject"]


# --- sending ---------------------------------------------------------------------------------------
class _Recorder:
    """Accepts mail, refuses or defers some recipients, and can drop the connection once per recipient."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.dropped: set[str] = set()
        self.lock = threading.Lock()

    def _drop_once(self, server, address: str, marker: str) -> bool:
        if marker in address and address not in self.dropped:
            self.dropped.add(address)
            server.transport.close()
            return True
        return False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd API)
        if address.startswith("refuse"):
            return "550 5.1.1 no such user"
        if address.startswith("defer"):
            return "450 4.2.1 try later"
        if self._drop_once(server, address, "drop-envelope"):
            return "421 closing"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        address = envelope.rcpt_tos[0]
        if self._drop_once(server, address, "drop-data"):
            return "421 closing"
        with self.lock:
            self.received.append((address, envelope.original_content))
        return "250 OK queued"


class _PipeliningRecorder(PipeliningHandler, _Recorder):
    pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["pipelining", "plain"])
def server(request):
    handler = _PipeliningRecorder() if request.param == "pipelining" else _Recorder()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port, request.param
    controller.stop()


def _sender(port: int) -> SmtpEmailSender:
    return SmtpEmailSender("127.0.0.1", port, from_addr="shop@example.com", from_name="Shop",
                           domain="example.com", timeout=10)


def test_batch_sends_in_order_and_reports_each_refusal(server):
    handler, port, mode = server
    batch = [_message(0), _message(1, to="refuse@example.org"), _message(2), _message(3, to="defer@example.org"),
             _message(4)]
    with _sender(port) as sender:
        assert sender._connect().has_extn("pipelining") == (mode == "pipelining")
        results = sender.send_batch(batch)
    assert results[0] == f"<{batch[0].message_key}@example.com>"
    assert isinstance(results[1], PermanentSendError) and "550" in str(results[1])
    assert isinstance(results[3], TransientSendError) and "450" in str(results[3])
    assert [r for r in (results[2], results[4])] == [f"<{batch[i].message_key}@example.com>" for i in (2, 4)]
    assert [to for to, _ in handler.received] == ["c0@example.org", "c2@example.org", "c4@example.org"]
    body = _parse(handler.received[0][1]).get_body(("plain",)).get_content()
    assert ".a line starting with a dot" in body  # dot-stuffing undone by the server


def test_connection_lost_before_data_is_resent_after_data_is_not(server):
    handler, port, _mode = server
    batch = [_message(0), _message(1, to="drop-envelope@example.org"), _message(2),
             _message(3, to="drop-data@example.org"), _message(4)]
    with _sender(port) as sender:
        results = sender.send_batch(batch)
    # lost before the data was written: reconnected and delivered once
    assert results[1] == f"<{batch[1].message_key}@example.com>"
    # lost after the data was written: outcome unknown to SMTP, so a transient error (never a silent resend)
    assert isinstance(results[3], TransientSendError)
    assert [to for to, _ in handler.received] == ["c0@example.org", "drop-envelope@example.org",
                                                  "c2@example.org", "c4@example.org"]


def test_single_send_raises_the_error(server):
    _handler, port, _mode = server
    with _sender(port) as sender, pytest.raises(PermanentSendError):
        sender.send(_message(1, to="refuse@example.org"))


def test_unreachable_server_is_transient():
    results = _sender(_free_port()).send_batch([_message(0), _message(1)])
    assert all(isinstance(r, TransientSendError) for r in results)
