"""Email over SMTP (the default sender): one persistent :mod:`smtplib` connection per batch.

The provider id is the stable Message-ID. :meth:`SmtpEmailSender.lookup` can ask an HTTP mailbox API
(the simulators' SMTP sink: ``GET /api/messages?to=…``) whether a message key was already accepted;
plain SMTP relays cannot answer, so without ``lookup_url`` lookups are unsupported (at-most-once).
"""

from __future__ import annotations

import smtplib
import socket
from typing import Any

import requests

from storeflow.campaigns.senders import (
    MESSAGE_KEY_HEADER,
    LookupUnsupported,
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
    build_mime,
    message_id_for,
)


class SmtpEmailSender:
    """SMTP sender; use ``with sender:`` to hold one connection for a batch."""

    channel = "email"
    provider = "smtp"

    def __init__(self, host: str, port: int, *, from_addr: str, from_name: str, domain: str,
                 mailto: str | None = None, username: str | None = None, password: str | None = None,
                 starttls: bool = False, timeout: float = 30.0, lookup_url: str | None = None) -> None:
        self.host, self.port = host, port
        self.from_addr, self.from_name, self.domain, self.mailto = from_addr, from_name, domain, mailto
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout
        self.lookup_url = lookup_url.rstrip("/") if lookup_url else None
        self._smtp: smtplib.SMTP | None = None

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> SmtpEmailSender:
        password = getattr(settings, "smtp_password", None)
        kwargs: dict[str, Any] = {
            "host": getattr(settings, "smtp_host", "127.0.0.1"),
            "port": int(getattr(settings, "smtp_port", 8725)),
            "from_addr": settings.campaign_from_email,
            "from_name": settings.shop_name,
            "domain": settings.campaign_message_id_domain,
            "mailto": settings.unsubscribe_mailto,
            "username": getattr(settings, "smtp_username", None),
            "password": password.get_secret_value() if hasattr(password, "get_secret_value") else password,
            "starttls": bool(getattr(settings, "smtp_starttls", False)),
            "lookup_url": getattr(settings, "smtp_api_url", None),
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    def __enter__(self) -> SmtpEmailSender:
        self._connect()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except smtplib.SMTPException:
                self._smtp.close()
            except OSError:
                pass
            self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is None:
            try:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                # small request/response exchanges: without TCP_NODELAY, Nagle + delayed ACK cost ~40 ms each
                if smtp.sock is not None:
                    smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.starttls:
                    smtp.starttls()
                if self.username and self.password:
                    smtp.login(self.username, self.password)
            except (OSError, smtplib.SMTPException) as exc:
                raise TransientSendError(f"SMTP connect to {self.host}:{self.port} failed: {exc}") from exc
            self._smtp = smtp
        return self._smtp

    def send(self, message: OutboundMessage) -> str:
        mime = build_mime(message, from_addr=self.from_addr, from_name=self.from_name, domain=self.domain,
                          mailto=self.mailto)
        for attempt in (1, 2):
            smtp = self._connect()
            try:
                smtp.send_message(mime, from_addr=self.from_addr, to_addrs=[message.to])
                return message_id_for(message.message_key, self.domain)
            except smtplib.SMTPServerDisconnected as exc:
                self._smtp = None
                if attempt == 2:
                    raise TransientSendError(f"SMTP disconnected: {exc}") from exc
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [c for c, _ in exc.recipients.values()]
                if all(400 <= c < 500 for c in codes):
                    raise TransientSendError(f"recipient deferred: {exc.recipients}") from exc
                raise PermanentSendError(f"recipient refused: {exc.recipients}") from exc
            except smtplib.SMTPResponseException as exc:
                if 400 <= exc.smtp_code < 500:
                    raise TransientSendError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
                raise PermanentSendError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            except (OSError, smtplib.SMTPException) as exc:
                self._smtp = None
                raise TransientSendError(f"SMTP error: {exc}") from exc
        raise TransientSendError("SMTP send failed")  # pragma: no cover

    def lookup(self, message: OutboundMessage) -> str | None:
        if not self.lookup_url:
            raise LookupUnsupported("plain SMTP cannot report accepted messages")
        try:
            resp = requests.get(f"{self.lookup_url}/api/messages", params={"to": message.to}, timeout=10)
            resp.raise_for_status()
        except requests.RequestException as exc:
            raise LookupUnsupported(f"mailbox API unavailable: {exc}") from exc
        for item in resp.json():
            headers = {k.lower(): v for k, v in (item.get("headers") or {}).items()}
            if headers.get(MESSAGE_KEY_HEADER.lower()) == message.message_key:
                return message_id_for(message.message_key, self.domain)
        return None
