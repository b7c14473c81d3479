"""Build storeflow's typed resource configs from the Airflow connections (settings are the fallback).

Each builder reads its connection once per call; tasks call them at run time, never at parse time.
"""

from __future__ import annotations

from storeflow.resources import SmsConfig, SmtpConfig
from storeflow.settings import get_settings
from storeflow_airflow.connections import optional_connection


def smtp_config(conn_id: str = "storeflow_smtp") -> SmtpConfig:
    """The SMTP relay from ``storeflow_smtp`` (host, port, login, password, extra.security/from/to/ca_bundle)."""
    settings = get_settings()
    conn = optional_connection(conn_id)
    if conn is None:
        return SmtpConfig.from_settings(settings)
    return SmtpConfig.from_connection(host=conn.host, port=conn.port, login=conn.login, password=conn.password,
                                      extra=conn.extra_dejson or {}, settings=settings)


def sms_config(conn_id: str = "storeflow_sms") -> SmsConfig:
    """The SMS gateway from ``storeflow_sms`` (host = gateway URL, login = account SID, password = token,
    ``extra.from`` = sender number)."""
    settings = get_settings()
    conn = optional_connection(conn_id)
    if conn is None:
        return SmsConfig.from_settings(settings)
    extra = conn.extra_dejson or {}
    return SmsConfig.build(base_url=conn.host or None, account_sid=conn.login or None,
                           auth_token=conn.password or None, from_number=extra.get("from"), settings=settings)


def campaign_senders() -> dict:
    """The campaign senders from the connections; a channel whose credentials are missing gets ``None``
    (the dispatcher keeps its messages planned and fails the run naming the connection)."""
    from storeflow.campaigns.senders import default_senders
    from storeflow.profile import MissingCredential

    try:
        sms: SmsConfig | None = sms_config()
    except MissingCredential:
        sms = None  # default_senders reports it and leaves the SMS channel without a sender
    return default_senders(get_settings(), smtp=smtp_config(), sms=sms)
