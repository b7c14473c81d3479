"""A Twilio-Messages-contract SMS gateway simulator (FastAPI).

Implements ``POST/GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` and
``GET .../Messages/{MessageSid}.json`` with HTTP Basic auth, Twilio's error JSON shape and codes
(20003 auth, 21602 body, 21603 from, 21604 to, 21211 invalid number, 21610 unsubscribed recipient),
GSM-7 / UCS-2 segment counting, and Twilio's stop-word opt-out handling. The official ``twilio`` SDK works
against it (see :func:`twilio_client`).

Simulator-only endpoints under ``/_sim/``: ``GET /_sim/messages`` (all messages with metadata such as the
``X-Storeflow-Message-Key`` request header), ``POST /_sim/inbound`` (``{"from", "body", "to"?}``: a reply
from a phone; STOP words opt the number out, START/UNSTOP opt it back in), ``GET /_sim/inbound[?after=seq]``,
``GET /_sim/opt_outs`` and ``DELETE /_sim/messages`` (clear everything).

Simplifications: opt-outs are per phone number (Twilio keeps them per sender); messages move to
``delivered`` immediately after creation (the create response says ``queued``, or ``accepted`` when only a
``MessagingServiceSid`` is given, as Twilio does); ``StatusCallback`` is not called.
"""

from __future__ import annotations

import base64
import math
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import phonenumbers
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from storeflow_simulators.credentials import DEMO_SMS_SID, DEMO_SMS_TOKEN

API_VERSION = "2010-04-01"
DEMO_ACCOUNT_SID = DEMO_SMS_SID
DEMO_AUTH_TOKEN = DEMO_SMS_TOKEN
MESSAGE_KEY_HEADER = "X-Storeflow-Message-Key"

STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT", "OPTOUT"}
)
START_WORDS = frozenset({"START", "UNSTOP", "YES"})

# GSM 03.38 basic character set and extension table (extension characters cost two septets).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def count_segments(body: str) -> tuple[int, str]:
    """Number of SMS segments for ``body`` and its encoding (``"GSM-7"`` or ``"UCS-2"``).

    GSM-7: 160 septets in one segment, 153 per segment when concatenated; UCS-2: 70 / 67 UTF-16 units.
    """
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in body):
        septets = sum(2 if ch in _GSM_EXTENDED else 1 for ch in body)
        return (1 if septets <= 160 else math.ceil(septets / 153)), "GSM-7"
    units = len(body.encode("utf-16-le")) // 2
    return (1 if units <= 70 else math.ceil(units / 67)), "UCS-2"


def is_valid_number(number: str) -> bool:
    """E.164 and a possible number for its country (lenient: fictional ranges are accepted)."""
    if not _E164.match(number):
        return False
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def _now_rfc2822() -> str:
    return format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=False).replace("-0000", "+0000")


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class SmsState:
    """Thread-safe in-memory store of the SMS simulator."""

    account_sid: str = DEMO_ACCOUNT_SID
    auth_token: str = DEMO_AUTH_TOKEN
    messages: list[dict[str, Any]] = field(default_factory=list)  # outbound and inbound, creation order
    metadata: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # sid -> {"message_key", "status_callback"}
    opted_out: set[str] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Serialisable state (for ``--state`` persistence)."""
        with self.lock:
            return {
                "messages": [dict(m) for m in self.messages],
                "metadata": {k: dict(v) for k, v in self.metadata.items()},
                "opted_out": sorted(self.opted_out),
            }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SmsState:
        """Inverse of :meth:`to_json`."""
        return cls(
            messages=list(data.get("messages", [])),
            metadata=dict(data.get("metadata", {})),
            opted_out=set(data.get("opted_out", [])),
        )

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.metadata.clear()
            self.opted_out.clear()

    def record_inbound(self, from_: str, body: str, to: str | None = None) -> dict[str, Any]:
        """Record a reply from a phone; apply Twilio's STOP/START keyword handling."""
        keyword = " ".join(body.strip().upper().split())
        msg = _message_resource(
            self.account_sid,
            to=to or "",
            from_=from_,
            body=body,
            status="received",
            direction="inbound",
            messaging_service_sid=None,
        )
        with self.lock:
            self.messages.append(msg)
            if keyword in STOP_WORDS:
                self.opted_out.add(from_)
            elif keyword in START_WORDS:
                self.opted_out.discard(from_)
        return msg


def _message_resource(
    account_sid: str,
    *,
    to: str,
    from_: str | None,
    body: str,
    status: str,
    direction: str,
    messaging_service_sid: str | None,
) -> dict[str, Any]:
    sid = _sid("SM")
    segments, _ = count_segments(body)
    now = _now_rfc2822()
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": body,
        "date_created": now,
        "date_sent": now if direction == "inbound" else None,
        "date_updated": now,
        "direction": direction,
        "error_code": None,
        "error_message": None,
        "from": from_,
        "messaging_service_sid": messaging_service_sid,
        "num_media": "0",
        "num_segments": str(segments),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": to,
        "uri": uri,
    }


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    """A response in Twilio's error shape."""
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def _authorised(request: Request, state: SmsState, account_sid: str) -> bool:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return (
        secrets.compare_digest(user, state.account_sid)
        and secrets.compare_digest(password, state.auth_token)
        and account_sid == state.account_sid
    )


def create_sms_app(state: SmsState | None = None) -> FastAPI:
    """The Twilio-contract FastAPI app; ``app.state.sms`` holds the :class:`SmsState`."""
    state = state or SmsState()
    app = FastAPI(title="storeflow SMS simulator (Twilio contract)")
    app.state.sms = state
    base = f"/{API_VERSION}/Accounts/{{account_sid}}"

    @app.post(base + "/Messages.json")
    async def create_message(account_sid: str, request: Request) -> JSONResponse:
        if not _authorised(request, state, account_sid):
            return twilio_error(401, 20003, "Authenticate")
        form = await request.form()
        to = str(form.get("To") or "").strip()
        from_ = str(form.get("From") or "").strip() or None
        service = str(form.get("MessagingServiceSid") or "").strip() or None
        body = str(form.get("Body") or "")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body and not form.get("MediaUrl"):
            return twilio_error(400, 21602, "Message body is required.")
        if not is_valid_number(to):
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if from_ and not from_.startswith("+") and not from_.isalnum():
            return twilio_error(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        if len(body) > 1600:
            return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        with state.lock:
            if to in state.opted_out:
                return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
            msg = _message_resource(
                state.account_sid,
                to=to,
                from_=from_,
                body=body,
                status="queued" if from_ else "accepted",
                direction="outbound-api",
                messaging_service_sid=service,
            )
            response = dict(msg)
            msg["status"] = "delivered"
            msg["date_sent"] = msg["date_created"]
            state.messages.append(msg)
            extra = {
                k: str(v)
                for k, v in form.items()
                if k not in {"To", "From", "MessagingServiceSid", "Body", "StatusCallback"}
            }
            state.metadata[msg["sid"]] = {
                "message_key": request.headers.get(MESSAGE_KEY_HEADER) or form.get(MESSAGE_KEY_HEADER),
                "status_callback": form.get("StatusCallback"),
                "extra_fields": extra,
            }
        return JSONResponse(response, status_code=201)

    @app.get(base + "/Messages.json")
    async def list_messages(account_sid: str, request: Request) -> JSONResponse:
        if not _authorised(request, state, account_sid):
            return twilio_error(401, 20003, "Authenticate")
        q = request.query_params
        try:
            page = max(int(q.get("Page", 0)), 0)
            page_size = min(max(int(q.get("PageSize", 50)), 1), 1000)
        except ValueError:
            return twilio_error(400, 20001, "Invalid paging parameter")
        with state.lock:
            rows = [m for m in reversed(state.messages)]  # newest first, as Twilio lists
        if q.get("To"):
            rows = [m for m in rows if m["to"] == q["To"]]
        if q.get("From"):
            rows = [m for m in rows if m["from"] == q["From"]]
        chunk = rows[page * page_size : (page + 1) * page_size]
        path = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"

        def uri(p: int) -> str:
            params = {k: v for k, v in q.items() if k in {"To", "From"}}
            params.update({"PageSize": page_size, "Page": p})
            return f"{path}?{urlencode(params)}"

        has_next = (page + 1) * page_size < len(rows)
        return JSONResponse(
            {
                "messages": chunk,
                "end": page * page_size + max(len(chunk) - 1, 0),
                "first_page_uri": uri(0),
                "next_page_uri": uri(page + 1) if has_next else None,
                "previous_page_uri": uri(page - 1) if page > 0 else None,
                "page": page,
                "page_size": page_size,
                "start": page * page_size,
                "uri": uri(page),
            }
        )

    @app.get(base + "/Messages/{message_sid}.json")
    async def fetch_message(account_sid: str, message_sid: str, request: Request) -> JSONResponse:
        if not _authorised(request, state, account_sid):
            return twilio_error(401, 20003, "Authenticate")
        with state.lock:
            for m in state.messages:
                if m["sid"] == message_sid:
                    return JSONResponse(m)
        return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")

    # --- simulator control ----------------------------------------------------------------------
    @app.get("/_sim/messages")
    def sim_messages() -> list[dict[str, Any]]:
        with state.lock:
            return [{**m, "metadata": state.metadata.get(m["sid"], {})} for m in state.messages]

    @app.delete("/_sim/messages")
    def sim_clear() -> dict[str, bool]:
        state.clear()
        return {"cleared": True}

    @app.post("/_sim/inbound", status_code=201)
    async def sim_inbound(request: Request) -> JSONResponse:
        data = await request.json()
        if not isinstance(data, dict) or not data.get("from") or "body" not in data:
            return JSONResponse({"error": "need {from, body}"}, status_code=400)
        msg = state.record_inbound(str(data["from"]), str(data["body"]), data.get("to"))
        with state.lock:
            opted_out = msg["from"] in state.opted_out
        return JSONResponse({**msg, "opted_out": opted_out}, status_code=201)

    @app.get("/_sim/inbound")
    def sim_inbound_list(after: int = 0) -> list[dict[str, Any]]:
        """Inbound messages, oldest first, each with ``seq`` (1-based); ``?after=N`` returns seq > N."""
        with state.lock:
            inbound = [m for m in state.messages if m["direction"] == "inbound"]
        return [{**m, "seq": i} for i, m in enumerate(inbound, start=1) if i > after]

    @app.get("/_sim/opt_outs")
    def sim_opt_outs() -> list[str]:
        with state.lock:
            return sorted(state.opted_out)

    @app.get("/_sim/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def twilio_client(
    base_url: str, account_sid: str = DEMO_ACCOUNT_SID, auth_token: str = DEMO_AUTH_TOKEN
) -> Any:
    """An official ``twilio.rest.Client`` whose REST API calls go to ``base_url`` (this simulator)."""
    from twilio.rest import Client

    client = Client(account_sid, auth_token)
    client.api.base_url = base_url.rstrip("/")
    return client
