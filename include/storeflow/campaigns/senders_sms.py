"""SMS through the Twilio Messages contract (``POST /2010-04-01/Accounts/{sid}/Messages.json``).

Configuration: a :class:`storeflow.resources.SmsConfig` (the ``storeflow_sms`` connection, else the
``STOREFLOW_SMS_*`` settings; the simulator's demo account only in the demo profile). The message key
travels as the ``X-Storeflow-Message-Key`` request header. Twilio has no
idempotency key; :meth:`TwilioSmsSender.lookup` searches the list endpoint for a message to the same
number with the same (deterministically rendered) body created since the message was claimed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from storeflow.campaigns.senders import (
    MESSAGE_KEY_HEADER,
    LookupUnsupported,
    OneByOneSender,
    OutboundMessage,
    PermanentSendError,
    RecipientOptedOut,
    TransientSendError,
)
from storeflow.resources import SmsConfig
from storeflow.settings import Settings

API_VERSION = "2010-04-01"


class TwilioSmsSender(OneByOneSender):
    channel = "sms"
    provider = "twilio"

    def __init__(self, base_url: str, account_sid: str, auth_token: str, from_number: str,
                 timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.account_sid, self.from_number, self.timeout = account_sid, from_number, timeout
        self._auth = (account_sid, auth_token)
        self._session: requests.Session | None = None
        self.claimed_since: datetime | None = None

    @classmethod
    def from_config(cls, config: SmsConfig, **overrides: Any) -> TwilioSmsSender:
        """The sender for a configured gateway."""
        kwargs: dict[str, Any] = {"base_url": config.base_url, "account_sid": config.account_sid,
                                  "auth_token": config.auth_token, "from_number": config.from_number}
        kwargs.update(overrides)
        return cls(**kwargs)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> TwilioSmsSender:
        """The sender for ``STOREFLOW_SMS_*`` (see :meth:`SmsConfig.from_settings`)."""
        return cls.from_config(SmsConfig.from_settings(settings), **overrides)

    @property
    def _url(self) -> str:
        return f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    def __enter__(self) -> TwilioSmsSender:
        self._session = requests.Session()
        self._session.auth = self._auth
        return self

    def __exit__(self, *exc: object) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _http(self) -> requests.Session:
        if self._session is None:
            self.__enter__()
        assert self._session is not None
        return self._session

    def send_one(self, message: OutboundMessage) -> str:
        try:
            resp = self._http().post(
                self._url, data={"To": message.to, "From": self.from_number, "Body": message.body},
                headers={MESSAGE_KEY_HEADER: message.message_key}, timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise TransientSendError(f"SMS gateway unreachable: {exc}") from exc
        if resp.status_code in (200, 201):
            return str(resp.json()["sid"])
        try:
            err = resp.json()
        except ValueError:
            err = {}
        code = err.get("code")
        text = f"SMS {resp.status_code} code={code}: {err.get('message', resp.text[:200])}"
        if code == 21610:
            raise RecipientOptedOut(text)
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientSendError(text)
        raise PermanentSendError(text)

    def lookup(self, message: OutboundMessage) -> str | None:
        since = (self.claimed_since or datetime.now(UTC)) - timedelta(minutes=5)
        params: dict[str, str | int] = {"To": message.to, "PageSize": 200}
        try:
            resp = self._http().get(self._url, params=params, timeout=self.timeout)
            resp.raise_for_status()
        except requests.RequestException as exc:
            raise LookupUnsupported(f"SMS list endpoint unavailable: {exc}") from exc
        for item in resp.json().get("messages", []):
            created = item.get("date_created")
            try:
                when = parsedate_to_datetime(created) if created else None
            except (TypeError, ValueError):
                when = None
            if item.get("body") == message.body and (when is None or when >= since):
                return str(item["sid"])
        return None
