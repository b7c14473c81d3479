"""Email over SMTP (the default sender): one persistent :mod:`smtplib` connection per batch.

When the server advertises ``PIPELINING`` (RFC 2920) the envelope (``MAIL``, ``RCPT``, ``DATA``) goes out
in one write and its three replies are read together, saving two round trips per message; otherwise
plain :meth:`smtplib.SMTP.sendmail`.

The provider id is the stable Message-ID. :meth:`SmtpEmailSender.lookup` can ask an HTTP mailbox API
(the simulators' SMTP sink: ``GET /api/messages?to=…``) whether a message key was already accepted;
plain SMTP relays cannot answer, so without ``lookup_url`` lookups are unsupported (at-most-once).
"""

from __future__ import annotations

import re
import smtplib
from typing import Any, cast

import requests

from storeflow.campaigns.senders import (
    MESSAGE_KEY_HEADER,
    BatchSender,
    LookupUnsupported,
    OutboundMessage,
    PermanentSendError,
    SendError,
    SenderUnavailable,
    TransientSendError,
    build_email,
    message_id_for,
)
from storeflow.resources import SmtpConfig
from storeflow.settings import Settings
from storeflow.smtp_relay import connect_smtp


class SmtpEmailSender(BatchSender):
    """SMTP sender; use ``with sender:`` to hold one connection for a batch."""

    channel = "email"
    provider = "smtp"

    def __init__(self, host: str, port: int, *, from_addr: str, from_name: str, domain: str,
                 mailto: str | None = None, username: str | None = None, password: str | None = None,
                 security: str = "none", timeout: float = 30.0, lookup_url: str | None = None,
                 ca_bundle: str | None = None) -> None:
        if security not in ("none", "starttls", "ssl"):
            raise ValueError(f"SMTP security must be none, starttls or ssl, not {security!r}")
        self.host, self.port = host, port
        self.from_addr, self.from_name, self.domain, self.mailto = from_addr, from_name, domain, mailto
        self.username, self.password, self.security, self.timeout = username, password, security, timeout
        self.lookup_url = lookup_url.rstrip("/") if lookup_url else None
        self.ca_bundle = ca_bundle
        self._smtp: smtplib.SMTP | None = None

    @classmethod
    def from_config(cls, config: SmtpConfig, settings: Settings, **overrides: Any) -> SmtpEmailSender:
        """The sender for a configured relay; sender identity and Message-ID domain come from ``settings``."""
        kwargs: dict[str, Any] = {
            "host": config.host, "port": config.port, "username": config.username, "password": config.password,
            "security": config.security, "lookup_url": config.lookup_url, "ca_bundle": config.ca_bundle,
            "from_addr": settings.campaign_from_email, "from_name": settings.shop_name,
            "domain": settings.campaign_message_id_domain, "mailto": settings.unsubscribe_mailto,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SmtpEmailSender:
        """The sender for ``STOREFLOW_SMTP_*`` (see :meth:`SmtpConfig.from_settings`)."""
        return cls.from_config(SmtpConfig.from_settings(settings), settings, **overrides)

    def check(self) -> None:
        """Connect, negotiate TLS and log in once; :class:`SenderUnavailable` when that fails."""
        try:
            self._connect()
        except TransientSendError as exc:
            raise SenderUnavailable(str(exc)) from exc
        finally:
            self.__exit__(None, None, None)

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
                smtp = connect_smtp(self.host, self.port, security=self.security, username=self.username,
                                    password=self.password, ca_bundle=self.ca_bundle, timeout=self.timeout)
            except (OSError, smtplib.SMTPException) as exc:
                raise TransientSendError(f"SMTP connect to {self.host}:{self.port} failed: {exc}") from exc
            self._smtp = smtp
        return self._smtp

    def send_batch(self, messages: list[OutboundMessage]) -> list[str | SendError]:
        """Send ``messages`` in order on this connection; one result (Message-ID or error) per message.

        With PIPELINING each message's data goes out in the same write as the next message's envelope, so a
        message costs one round trip. A connection lost before a message's data was written is re-opened and
        the message sent (it cannot have been delivered); lost after, the message gets a transient error
        (its outcome is unknown to SMTP; its stable Message-ID lets receivers de-duplicate).
        """
        results: list[str | SendError] = []
        reconnects = 0
        while len(results) < len(messages):
            rest = messages[len(results):]
            try:
                smtp = self._connect()
            except TransientSendError as exc:
                return results + [exc] * len(rest)
            before = len(results)
            try:
                if smtp.has_extn("pipelining") and all(m.to.isascii() for m in rest):
                    self._chain(smtp, rest, results)
                else:
                    for m in rest:
                        results.append(self._sendmail(smtp, m))
            except _ConnectionLost as lost:
                self._drop()
                reconnects += 1
                if lost.after_data or reconnects > 2:
                    results.append(TransientSendError(f"SMTP connection lost: {lost}"))
            if len(results) > before:
                reconnects = 0
        return results

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None

    def _data(self, message: OutboundMessage) -> bytes:
        return build_email(message, from_addr=self.from_addr, from_name=self.from_name, domain=self.domain,
                           mailto=self.mailto)

    def _sendmail(self, smtp: smtplib.SMTP, message: OutboundMessage) -> str | SendError:
        """One message without pipelining (a round trip per command)."""
        data = self._data(message)
        options = ["SMTPUTF8"] if not message.to.isascii() and smtp.has_extn("smtputf8") else []
        try:
            mail = smtp.mail(self.from_addr, options)
            refused = _envelope_refused(mail, smtp.rcpt(message.to) if mail[0] == 250 else None)
            if refused is not None:
                smtp.rset()
                return refused
        except OSError as exc:  # SMTPServerDisconnected or a socket error, before any data
            raise _ConnectionLost(str(exc), after_data=False) from exc
        try:
            code, reply = smtp.data(data)
        except smtplib.SMTPDataError as exc:  # DATA itself refused
            smtp.rset()
            # smtplib raises it with the server's reply as bytes (typeshed allows str too)
            return _reply_error("SMTP", exc.smtp_code, cast(bytes, exc.smtp_error))
        except OSError as exc:
            raise _ConnectionLost(str(exc), after_data=True) from exc
        return self._accepted(message, code, reply)

    def _accepted(self, message: OutboundMessage, code: int, reply: bytes) -> str | SendError:
        """The result of a message whose data was sent: its Message-ID on 250, else the reply's error."""
        return message_id_for(message.message_key, self.domain) if code == 250 else _reply_error("SMTP", code, reply)

    def _chain(self, smtp: smtplib.SMTP, messages: list[OutboundMessage], results: list[str | SendError]) -> None:
        """Pipelined sends (RFC 2920), appending to ``results``; raise :class:`_ConnectionLost`."""
        try:
            self._chain_unguarded(smtp, messages, results)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _ConnectionLost(str(exc), after_data=False) from exc

    def _chain_unguarded(self, smtp: smtplib.SMTP, messages: list[OutboundMessage],
                         results: list[str | SendError]) -> None:
        def envelope(m: OutboundMessage) -> bytes:
            return f"MAIL FROM:<{self.from_addr}>\r\nRCPT TO:<{m.to}>\r\nDATA\r\n".encode("ascii")

        smtp.send(envelope(messages[0]))
        for i, message in enumerate(messages):
            following = envelope(messages[i + 1]) if i + 1 < len(messages) else b""
            mail, rcpt, go = smtp.getreply(), smtp.getreply(), smtp.getreply()
            refused = _envelope_refused(mail, rcpt, go)
            if refused is None:
                body = _LEADING_DOT.sub(b"..", self._data(message))
                smtp.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n" + following)
                try:
                    code, reply = smtp.getreply()
                except (smtplib.SMTPServerDisconnected, OSError) as exc:
                    raise _ConnectionLost(str(exc), after_data=True) from exc
                results.append(self._accepted(message, code, reply))
                continue
            if go[0] == 354:  # the server waits for data it must now refuse (RFC 2920)
                smtp.send(b".\r\n")
                smtp.getreply()
            smtp.rset()
            results.append(refused)
            if following:
                smtp.send(following)

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


class _ConnectionLost(Exception):
    """The SMTP connection broke; ``after_data``: a message's complete data had been written."""

    def __init__(self, text: str, *, after_data: bool) -> None:
        super().__init__(text)
        self.after_data = after_data


_LEADING_DOT = re.compile(rb"(?m)^\.")


def _envelope_refused(mail: tuple[int, bytes], rcpt: tuple[int, bytes] | None,
                      go: tuple[int, bytes] | None = None) -> SendError | None:
    """The error of the first refused envelope reply (``MAIL``, ``RCPT``, then ``DATA``'s 354), or None."""
    if mail[0] != 250:
        return _reply_error("SMTP", *mail)
    if rcpt is not None and rcpt[0] not in (250, 251):
        return _reply_error("recipient refused", *rcpt)
    if go is not None and go[0] != 354:
        return _reply_error("SMTP", *go)
    return None


def _reply_error(what: str, code: int, reply: bytes) -> SendError:
    """4xx replies are worth retrying, everything else is permanent."""
    text = f"{what}: {code} {reply.decode('utf-8', 'replace')}"
    return TransientSendError(text) if 400 <= code < 500 else PermanentSendError(text)
