"""Typed descriptions of the external systems storeflow talks to, built once per task.

The Airflow glue (``plugins/storeflow_airflow/resources.py``) builds them from the Airflow connections;
without Airflow, :meth:`from_settings` builds them from ``STOREFLOW_*`` settings. Library entry points take
these objects (or the clients built from them), so there is one configuration path. Secrets are kept out of
``repr`` and every error names the connection to fix, never a credential.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from storeflow import profile

if TYPE_CHECKING:
    from pydantic import SecretStr
    from sqlalchemy import Engine

    from storeflow.connectors.square import SquareClient
    from storeflow.connectors.woocommerce import WooClient
    from storeflow.landing import LandingZone
    from storeflow.settings import Settings

SmtpSecurity = Literal["none", "starttls", "ssl"]
_SECURITY: dict[str, SmtpSecurity] = {"none": "none", "starttls": "starttls", "ssl": "ssl"}


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
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        """The relay from ``STOREFLOW_SMTP_*`` (the simulator's mailbox API only in the demo profile)."""
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return cls(host=settings.smtp_host, port=settings.smtp_port, username=settings.smtp_username,
                   password=password, security=settings.smtp_security,
                   lookup_url=settings.smtp_api_url if profile.is_demo() else None)

    @classmethod
    def from_connection(cls, *, host: str | None, port: int | None, login: str | None, password: str | None,
                        extra: dict[str, Any], settings: Settings) -> SmtpConfig:
        """From an Airflow connection's fields: ``extra.security`` (starttls|ssl|none, or ``extra.starttls``
        / ``extra.ssl`` true), ``extra.from`` and ``extra.to`` (alert sender and recipients), ``extra.ca_bundle``."""
        text = str(extra.get("security") or ("ssl" if extra.get("ssl") else
                                              "starttls" if extra.get("starttls") else "none")).lower()
        security = _SECURITY.get(text)
        if security is None:
            raise ValueError(f"connection storeflow_smtp: extra.security must be none, starttls or ssl, "
                             f"not {text!r}")
        recipients = extra.get("to") or extra.get("alert_to") or ()
        if isinstance(recipients, str):
            recipients = [r.strip() for r in recipients.split(",") if r.strip()]
        return cls(host=host or settings.smtp_host, port=int(port or settings.smtp_port),
                   username=login or None, password=password or None, security=security,
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
    def from_settings(cls, settings: Settings) -> SmsConfig:
        """From ``STOREFLOW_SMS_*``; the simulator's demo account only in the demo profile."""
        return cls.build(base_url=settings.sms_url, account_sid=settings.sms_account_sid,
                         auth_token=settings.sms_auth_token, settings=settings)

    @classmethod
    def build(cls, *, base_url: str | None, account_sid: str | None, auth_token: SecretStr | str | None,
              settings: Settings, from_number: str | None = None) -> SmsConfig:
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


@dataclass(frozen=True)
class ConnectionFields:
    """The fields of one Airflow connection, read by the glue or from an ``AIRFLOW_CONN_*`` variable."""

    conn_id: str
    host: str | None = None
    port: int | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def base_url(self) -> str | None:
        """``host`` as a URL (``schema`` http/https when the host has no scheme), with the port."""
        host = (self.host or "").rstrip("/")
        if not host:
            return None
        if "://" not in host:
            scheme = self.schema if self.schema in ("http", "https") else "http"
            host = f"{scheme}://{host}"
        return f"{host}:{self.port}" if self.port else host

    def verify(self) -> bool | str:
        """TLS verification: True, or the CA bundle in ``extra.ca_bundle`` (alias ``verify``); never off."""
        value = self.extra.get("ca_bundle", self.extra.get("verify"))
        if value is None or value is True or (isinstance(value, str) and value.strip().lower() in ("", "true")):
            return True  # an empty form field means "not set"
        if value is False or (isinstance(value, str) and value.strip().lower() in ("false", "0", "no")):
            raise ValueError(f"connection {self.conn_id}: TLS verification cannot be switched off; set extra "
                             "'ca_bundle' to the CA bundle that signed the server's certificate")
        return str(value)


def connection_from_env(conn_id: str) -> ConnectionFields | None:
    """The connection defined in ``AIRFLOW_CONN_<ID>`` (Airflow's JSON or URI form), for use without Airflow."""
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not raw:
        return None
    if raw.lstrip().startswith("{"):
        data = json.loads(raw)
        extra = data.get("extra") or {}
        return ConnectionFields(conn_id, host=data.get("host"), port=data.get("port"), schema=data.get("schema"),
                                login=data.get("login"), password=data.get("password"),
                                extra=json.loads(extra) if isinstance(extra, str) else dict(extra))
    parts = urlsplit(raw)
    query = dict(parse_qsl(parts.query))
    extra = json.loads(query.pop("__extra__")) if "__extra__" in query else query
    host = unquote(parts.hostname or "") or None
    if host and parts.scheme in ("http", "https"):
        host = f"{parts.scheme}://{host}"
    return ConnectionFields(conn_id, host=host, port=parts.port, schema=unquote(parts.path.lstrip("/")) or None,
                            login=unquote(parts.username) if parts.username else None,
                            password=unquote(parts.password) if parts.password else None, extra=extra)


def pos_client(fields: ConnectionFields | None, conn_id: str = "storeflow_pos", **kwargs: Any) -> SquareClient:
    """The POS client for a connection (host = base URL, password = access token), else the settings."""
    from storeflow.connectors.square import SquareClient
    from storeflow.settings import get_settings

    if fields is None:
        return SquareClient.from_settings(conn_id=conn_id, **kwargs)
    if not fields.password:
        raise profile.MissingCredential(f"connection {conn_id} has no password (the POS access token)")
    base = fields.base_url or profile.address(get_settings().pos_url, what="the POS URL", conn_id=conn_id,
                                              env="STOREFLOW_POS_URL")
    return SquareClient(base, fields.password, conn_id=conn_id, verify=fields.verify(), **kwargs)


def store_client(fields: ConnectionFields | None, conn_id: str = "storeflow_store", **kwargs: Any) -> WooClient:
    """The store client for a connection (host = base URL, login/password = consumer key/secret,
    ``extra.auth``), else the settings."""
    from storeflow.connectors.woocommerce import WooClient
    from storeflow.settings import get_settings

    if fields is None:
        return WooClient.from_settings(conn_id=conn_id, **kwargs)
    if not (fields.login and fields.password):
        raise profile.MissingCredential(f"connection {conn_id} needs login (consumer key) and password "
                                        "(consumer secret)")
    base = fields.base_url or profile.address(get_settings().store_url, what="the store URL", conn_id=conn_id,
                                              env="STOREFLOW_STORE_URL")
    return WooClient(base, fields.login, fields.password, auth=fields.extra.get("auth", "auto"), conn_id=conn_id,
                     verify=fields.verify(), **kwargs)


#: the Airflow connections storeflow reads (see the README's connection table)
CONNECTION_IDS = ("storeflow_pos", "storeflow_store", "storeflow_warehouse", "storeflow_landing", "storeflow_smtp",
                  "storeflow_sms", "storeflow_alerts")


@dataclass(frozen=True)
class Resources:
    """Every external resource one task may use, read once: the defined connections by id (settings fill in
    whatever is not defined). Entry points take this object or the typed parts it builds."""

    connections: dict[str, ConnectionFields] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls) -> Resources:
        """From ``AIRFLOW_CONN_*`` variables (CLIs and scripts without Airflow)."""
        return cls({cid: f for cid in CONNECTION_IDS if (f := connection_from_env(cid)) is not None})

    def fields(self, conn_id: str) -> ConnectionFields | None:
        """The connection ``conn_id`` when it is defined."""
        return self.connections.get(conn_id)

    def pos_client(self, **kwargs: Any) -> SquareClient:
        """The POS client (``storeflow_pos``, else ``STOREFLOW_POS_*``; demo fallbacks only in the demo profile)."""
        return pos_client(self.fields("storeflow_pos"), **kwargs)

    def store_client(self, **kwargs: Any) -> WooClient:
        """The store client (``storeflow_store``, else ``STOREFLOW_STORE_*``)."""
        return store_client(self.fields("storeflow_store"), **kwargs)

    def warehouse_url(self) -> str | None:
        """The warehouse URL (``storeflow_warehouse`` ``extra.url``); None for the configured default."""
        conn = self.fields("storeflow_warehouse")
        return conn.extra.get("url") if conn is not None else None

    def warehouse_engine(self) -> Engine:
        """A migrated warehouse engine for :meth:`warehouse_url`."""
        from storeflow.warehouse.db import connect_warehouse

        return connect_warehouse(self.warehouse_url())

    def landing_zone(self) -> LandingZone:
        """The landing zone: S3 when ``storeflow_landing`` names a bucket (``extra.url`` or host;
        login/password = AWS key pair, ``extra.endpoint_url``, ``extra.region_name``), else the settings."""
        from storeflow.landing import LandingZone

        conn = self.fields("storeflow_landing")
        if conn is None:
            return LandingZone.from_settings()
        session = None
        if conn.login:
            import boto3

            session = boto3.session.Session(aws_access_key_id=conn.login, aws_secret_access_key=conn.password,
                                            region_name=conn.extra.get("region_name", "us-east-1"))
        return LandingZone.from_url(conn.extra.get("url") or f"s3://{conn.host}",
                                    endpoint_url=conn.extra.get("endpoint_url"), session=session)

    def smtp(self, settings: Settings) -> SmtpConfig:
        """The SMTP relay (``storeflow_smtp``, else ``STOREFLOW_SMTP_*``)."""
        conn = self.fields("storeflow_smtp")
        if conn is None:
            return SmtpConfig.from_settings(settings)
        return SmtpConfig.from_connection(host=conn.host, port=conn.port, login=conn.login, password=conn.password,
                                          extra=conn.extra, settings=settings)

    def sms(self, settings: Settings) -> SmsConfig:
        """The SMS gateway (``storeflow_sms``, else ``STOREFLOW_SMS_*``); :class:`profile.MissingCredential`
        names the connection when production lacks it."""
        conn = self.fields("storeflow_sms")
        if conn is None:
            return SmsConfig.from_settings(settings)
        return SmsConfig.build(base_url=conn.base_url, account_sid=conn.login, auth_token=conn.password,
                               from_number=conn.extra.get("from"), settings=settings)
