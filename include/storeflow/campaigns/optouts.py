"""Opt-out paths: signed unsubscribe tokens + one-click endpoint, and inbound SMS stop words.

**Tokens** are ``v1.<customer>.<topic>.<signature>`` (base64url parts), the signature being
HMAC-SHA256 over ``v1|customer|topic`` with the secret from ``STOREFLOW_UNSUBSCRIBE_SECRET`` or the
password/extra ``secret`` of the Airflow connection ``storeflow_unsubscribe`` (``AIRFLOW_CONN_STOREFLOW_UNSUBSCRIBE``,
JSON or URI form). There is no built-in secret: without one, tokens cannot be made or checked.
Forged or tampered tokens fail a constant-time comparison.

**Endpoint** (:func:`storeflow.endpoints.create_unsubscribe_app`, served by the public endpoints service,
default port ``settings.unsubscribe_port`` = 8727):
``GET /u/{token}`` shows a confirmation page with a button; ``POST /u/{token}`` (RFC 8058 one-click:
body ``List-Unsubscribe=One-Click``, or the page's button) records ``unsubscribed`` for (customer, email,
topic) in ``consents`` — idempotent, no login. A token for topic ``marketing`` opts out of all marketing
email.

**Inbound SMS**: STOP, QUIT, END, REVOKE, OPT OUT, CANCEL, UNSUBSCRIBE (also STOPALL/OPTOUT, any case,
surrounding whitespace or punctuation ignored) record ``unsubscribed`` for (customer, sms, ``all``) for
every customer with that phone number. Both paths write ``consents`` with ``source_system='storeflow'``
so ``sync_customers`` carries them to the POS and the store, and the dispatcher re-checks consent right
before each send, so they take effect before the next dispatch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Connection, select

from storeflow.warehouse.schema import consents, customers

SECRET_ENV = "STOREFLOW_UNSUBSCRIBE_SECRET"
AIRFLOW_CONN_ENV = "AIRFLOW_CONN_STOREFLOW_UNSUBSCRIBE"
STOP_WORDS = frozenset({"STOP", "QUIT", "END", "REVOKE", "OPT OUT", "CANCEL", "UNSUBSCRIBE", "STOPALL", "OPTOUT"})
SOURCE = "storeflow"


# v1.<customer>.<topic>.<32-byte signature>, unpadded base64url only: anything else is refused before decoding
_TOKEN_SHAPE = re.compile(r"v1\.[A-Za-z0-9_-]{1,600}\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{43}")
ONE_CLICK_BODY = ("List-Unsubscribe", "One-Click")


class TokenError(ValueError):
    """A malformed, forged or tampered unsubscribe token."""


class MissingSecret(RuntimeError):
    """No unsubscribe secret configured."""


def unsubscribe_secret() -> bytes:
    """The HMAC secret from the environment or the Airflow connection (never a default)."""
    value = os.environ.get(SECRET_ENV)
    if not value:
        conn = os.environ.get(AIRFLOW_CONN_ENV)
        if conn:
            if conn.lstrip().startswith("{"):
                data = json.loads(conn)
                value = data.get("password") or (data.get("extra") or {}).get("secret")
            else:
                value = unquote(urlsplit(conn).password or "")
    if not value or len(value) < 16:
        raise MissingSecret(f"set {SECRET_ENV} (>= 16 characters) or the Airflow connection storeflow_unsubscribe")
    return value.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(customer_id: str, topic: str, secret: bytes) -> bytes:
    return hmac.new(secret, f"v1|{customer_id}|{topic}".encode(), hashlib.sha256).digest()


def make_token(customer_id: str, topic: str, secret: bytes | None = None) -> str:
    """Signed token for (customer, topic)."""
    secret = secret or unsubscribe_secret()
    sig = _signature(customer_id, topic, secret)
    return f"v1.{_b64(customer_id.encode())}.{_b64(topic.encode())}.{_b64(sig)}"


def verify_token(token: str, secret: bytes | None = None) -> tuple[str, str]:
    """(customer_id, topic) of a valid token; :class:`TokenError` otherwise."""
    secret = secret or unsubscribe_secret()
    if not isinstance(token, str) or len(token) > 1024 or not _TOKEN_SHAPE.fullmatch(token):
        raise TokenError("malformed token")
    parts = token.split(".")
    try:
        customer_id = _unb64(parts[1]).decode()
        topic = _unb64(parts[2]).decode()
        sig = _unb64(parts[3])
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError("malformed token") from exc
    if not hmac.compare_digest(sig, _signature(customer_id, topic, secret)):
        raise TokenError("invalid signature")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", topic) or not customer_id:
        raise TokenError("invalid token payload")
    return customer_id, topic


def unsubscribe_url(customer_id: str, topic: str, base_url: str, secret: bytes | None = None) -> str:
    """The one-click URL for ``List-Unsubscribe`` and the visible link."""
    return f"{base_url.rstrip('/')}/{make_token(customer_id, topic, secret)}"


def is_public_url(url: str | None) -> bool:
    """True for an http(s) URL whose host is not loopback, unspecified or ``localhost``."""
    import ipaddress

    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return not (address.is_loopback or address.is_unspecified)


def record_optout(conn: Connection, customer_id: str, channel: str, topic: str, *, reason: str,
                  at: datetime | None = None) -> bool:
    """Record ``unsubscribed`` unless a newer explicit choice exists; return True when written."""
    from storeflow.warehouse.upsert import upsert

    at = at or datetime.now(UTC)
    current = conn.execute(
        select(consents.c.status, consents.c.changed_at).where(
            consents.c.customer_id == customer_id, consents.c.channel == channel, consents.c.topic == topic)
    ).first()
    if current is not None and (current.status == "unsubscribed" or current.changed_at > at):
        return False
    upsert(conn, consents, [{"customer_id": customer_id, "channel": channel, "topic": topic,
                             "status": "unsubscribed", "source_system": SOURCE, "changed_at": at,
                             "reason": reason}])
    return True


def is_stop_word(body: str) -> bool:
    """True for the TCPA/CTIA revocation keywords."""
    words = " ".join(re.sub(r"[^A-Za-z ]+", " ", body or "").upper().split())
    return words in STOP_WORDS


def process_inbound_sms(conn: Connection, messages: Iterable[dict[str, Any]]) -> int:
    """Record an SMS opt-out (topic ``all``) for each stop-word reply; return consents written."""
    written = 0
    for msg in messages:
        if not is_stop_word(str(msg.get("body", ""))):
            continue
        number = str(msg.get("from") or msg.get("From") or "").strip()
        if not number:
            continue
        at = _when(msg.get("date_created") or msg.get("date_sent")) or datetime.now(UTC)
        ids = conn.execute(select(customers.c.customer_id).where(customers.c.phone == number)).scalars().all()
        for cid in ids:
            written += record_optout(conn, cid, "sms", "all", reason=f"inbound SMS {msg.get('body')!r:.40}", at=at)
    return written


def fetch_inbound_sms(base_url: str, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Inbound messages from the SMS simulator (``GET /_sim/inbound``); production uses the webhook."""
    import requests

    resp = requests.get(f"{base_url.rstrip('/')}/_sim/inbound", timeout=timeout)
    resp.raise_for_status()
    return list(resp.json())


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if not value:
        return None
    try:
        return parsedate_to_datetime(str(value)).astimezone(UTC)
    except (TypeError, ValueError):
        try:
            return datetime.fromisoformat(str(value)).astimezone(UTC)
        except ValueError:
            return None
