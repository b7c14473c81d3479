"""storeflow's resources for one task, built once from the Airflow connections (settings are the fallback).

:func:`task_resources` reads every storeflow connection once per task process and returns the library's
:class:`storeflow.resources.Resources`; the task glue takes clients, senders and configs from it.
"""

from __future__ import annotations

from functools import lru_cache

from storeflow.resources import CONNECTION_IDS, Resources, SmsConfig, SmtpConfig
from storeflow.settings import get_settings
from storeflow_airflow.connections import connection_fields


@lru_cache(maxsize=1)
def task_resources() -> Resources:
    """Every defined storeflow connection, read once per task process."""
    return Resources({cid: f for cid in CONNECTION_IDS if (f := connection_fields(cid)) is not None})


def smtp_config() -> SmtpConfig:
    """The SMTP relay from ``storeflow_smtp`` (host, port, login, password, extra.security/from/to/ca_bundle)."""
    return task_resources().smtp(get_settings())


def sms_config() -> SmsConfig:
    """The SMS gateway from ``storeflow_sms`` (host = gateway URL, login = account SID, password = token,
    ``extra.from`` = sender number)."""
    return task_resources().sms(get_settings())


def campaign_senders() -> dict:
    """The campaign senders from the connections; a channel whose credentials are missing gets ``None``
    (the dispatcher keeps its messages planned and fails the run naming the connection)."""
    return task_resources().senders(get_settings())
