"""An SMTP sink (aiosmtpd) that keeps received mail in memory, plus a small HTTP API to read it.

``SmtpSink(host, port).start()`` accepts mail from any SMTP client (e.g. :mod:`smtplib`);
``create_smtp_api(state)`` serves ``GET /api/messages`` (optionally ``?to=addr``), ``GET /api/messages/{id}``
(with the raw message) and ``DELETE /api/messages``.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from fastapi import FastAPI, HTTPException

DEFAULT_SMTP_PORT = 8725
DEFAULT_API_PORT = 8726


@dataclass
class SmtpState:
    """Thread-safe in-memory mailbox."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    def add(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> dict[str, Any]:
        """Parse and store one received message; return its JSON form."""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        headers: dict[str, str] = {}
        for name, value in parsed.items():
            headers.setdefault(name, str(value))
        text = _part(parsed, "plain")
        html = _part(parsed, "html")
        with self.lock:
            msg = {
                "id": next(self._ids),
                "from": mail_from,
                "to": list(rcpt_tos),
                "header_from": str(parsed.get("From", "")),
                "header_to": str(parsed.get("To", "")),
                "subject": str(parsed.get("Subject", "")),
                "headers": headers,
                "text": text,
                "html": html,
                "received_at": datetime.now(UTC).isoformat(),
                "size": len(raw),
                "raw": raw.decode("utf-8", errors="replace"),
            }
            self.messages.append(msg)
        return msg

    def list(self, to: str | None = None) -> list[dict[str, Any]]:
        """Messages (oldest first), optionally only those with envelope recipient ``to``."""
        with self.lock:
            rows = list(self.messages)
        if to:
            rows = [m for m in rows if to.lower() in (r.lower() for r in m["to"])]
        return rows

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {"messages": [dict(m) for m in self.messages]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SmtpState:
        messages = list(data.get("messages", []))
        start = max((m["id"] for m in messages), default=0) + 1
        return cls(messages=messages, _ids=itertools.count(start))


def _part(msg: EmailMessage, subtype: str) -> str | None:
    if not msg.is_multipart():
        if msg.get_content_type() == f"text/{subtype}":
            return str(msg.get_content())
        return None
    part = msg.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    return str(part.get_content())


class PipeliningHandler:
    """aiosmtpd handler base that advertises PIPELINING (RFC 2920).

    aiosmtpd reads one command line at a time from a buffered stream, so pipelined envelopes are safe.
    """

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


class _Handler(PipeliningHandler):
    def __init__(self, state: SmtpState) -> None:
        self.state = state

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        self.state.add(envelope.mail_from, list(envelope.rcpt_tos), raw)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    def _trigger_server(self) -> None:
        # Learn the real port when 0 (ephemeral) was asked for, before the base class connects to it.
        if self.server is not None and self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    """The SMTP server; ``.port`` is the bound port after :meth:`start`."""

    def __init__(
        self, state: SmtpState | None = None, host: str = "127.0.0.1", port: int = DEFAULT_SMTP_PORT
    ):
        self.state = state or SmtpState()
        self.host = host
        self._controller = _Controller(
            _Handler(self.state),
            hostname=host,
            port=port,
            decode_data=False,
            data_size_limit=40 * 1024 * 1024,
            enable_SMTPUTF8=True,
            server_hostname="storeflow-smtp-sink",
        )

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_smtp_api(state: SmtpState) -> FastAPI:
    """HTTP API over the mailbox; ``app.state.smtp`` holds the :class:`SmtpState`."""
    app = FastAPI(title="storeflow SMTP sink API")
    app.state.smtp = state

    @app.get("/api/messages")
    def list_messages(to: str | None = None) -> list[dict[str, Any]]:
        return [{k: v for k, v in m.items() if k != "raw"} for m in state.list(to)]

    @app.get("/api/messages/{message_id}")
    def get_message(message_id: int) -> dict[str, Any]:
        for m in state.list():
            if m["id"] == message_id:
                return m
        raise HTTPException(404, "no such message")

    @app.delete("/api/messages")
    def clear() -> dict[str, bool]:
        state.clear()
        return {"cleared": True}

    @app.get("/_sim/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
