"""Typed descriptions of the external systems storeflow talks to, built once per task.

The Airflow glue (``plugins/storeflow_airflow/resources.py``) builds them from the Airflow connections;
without Airflow, :meth:`from_settings` builds them from ``STOREFLOW_*`` settings. Library entry points take
these objects (or the clients built from them), so there is one configuration path. Secrets are kept out of
``repr`` and every error names the connection to fix, never a credential.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from storeflow import profile

SmtpSecurity = Literal["none", "starttls", "ssl"]


@dataclass(frozen=True)
class SmtpConfig:
    """An SMTP relay: campaign email and email alerts (connection ``storeflow_smtp``)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: SmtpSecurity = "none"
    alert_from: str | None = None
    alert_to: tuple[str, ...] = ()
    lookup_url: str | None = None  # the simulator's mailbox API (demo only): lets recovery ask what arrived
    ca_bundle: str | None = None  # CA file for a relay whose certificate a private CA signed
    conn_id: str = "storeflow_smtp"

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpConfig:
        """The relay from ``STOREFLOW_SMTP_*`` (the simulator's mailbox API only in the demo profile)."""
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return cls(host=settings.smtp_host, port=settings.smtp_port, username=settings.smtp_username,
                   password=password, security=settings.smtp_security,
                   lookup_url=settings.smtp_api_url if profile.is_demo() else None)

    @classmethod
    def from_connection(cls, *, host: str | None, port: int | None, login: str | None, password: str | None,
                        extra: dict[str, Any], settings: Any) -> SmtpConfig:
        """From an Airflow connection's fields: ``extra.security`` (starttls|ssl|none, or ``extra.starttls``
        / ``extra.ssl`` true), ``extra.from`` and ``extra.to`` (alert sender and recipients), ``extra.ca_bundle``."""
        security = str(extra.get("security") or ("ssl" if extra.get("ssl") else
                                                  "starttls" if extra.get("starttls") else "none")).lower()
        if security not in ("none", "starttls", "ssl"):
            raise ValueError(f"connection storeflow_smtp: extra.security must be none, starttls or ssl, "
                             f"not {security!r}")
        recipients = extra.get("to") or extra.get("alert_to") or ()
        if isinstance(recipients, str):
            recipients = [r.strip() for r in recipients.split(",") if r.strip()]
        return cls(host=host or settings.smtp_host, port=int(port or settings.smtp_port),
                   username=login or None, password=password or None, security=security,  # type: ignore[arg-type]
                   alert_from=extra.get("from"), alert_to=tuple(recipients), ca_bundle=extra.get("ca_bundle"),
                   lookup_url=extra.get("lookup_url") if profile.is_demo() else None)


@dataclass(frozen=True)
class SmsConfig:
    """An SMS gateway speaking the Twilio Messages contract (connection ``storeflow_sms``)."""

    base_url: str
    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str
    conn_id: str = "storeflow_sms"

    @classmethod
    def from_settings(cls, settings: Any) -> SmsConfig:
        """From ``STOREFLOW_SMS_*``; the simulator's demo account only in the demo profile."""
        return cls.build(base_url=settings.sms_url, account_sid=settings.sms_account_sid,
                         auth_token=settings.sms_auth_token, settings=settings)

    @classmethod
    def build(cls, *, base_url: str | None, account_sid: str | None, auth_token: Any, settings: Any,
              from_number: str | None = None) -> SmsConfig:
        """Validate and complete the parts, failing with the connection's name when one is missing."""
        where = {"conn_id": "storeflow_sms"}
        return cls(
            base_url=profile.address(base_url or settings.sms_url, what="the SMS gateway URL",
                                     env="STOREFLOW_SMS_URL", **where),
            account_sid=profile.credential(account_sid, demo=profile.DEMO_SMS_SID, what="the SMS account SID",
                                           env="STOREFLOW_SMS_ACCOUNT_SID", **where),
            auth_token=profile.credential(auth_token, demo=profile.DEMO_SMS_TOKEN, what="the SMS auth token",
                                          env="STOREFLOW_SMS_AUTH_TOKEN", **where),
            from_number=from_number or settings.sms_from,
        )
