"""The demo profile: the one place where demo credentials and the simulators' loopback addresses are allowed.

``STOREFLOW_PROFILE=demo`` (set by ``make demo``, ``make airflow`` and ``make sims``, and by the tests) lets
a missing credential fall back to the simulators' demo value. In the production profile (the default) a
missing credential, or an external system left at a loopback address, is a :class:`MissingCredential`
naming the Airflow connection (and the environment variable) to set — never a silent default.

The demo values are not secrets: they only open the local simulators.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

DEMO_STORE_KEY = "ck_storeflow_demo"
DEMO_STORE_SECRET = "cs_storeflow_demo"  # noqa: S105
DEMO_POS_TOKEN = "storeflow-demo-token"  # noqa: S105
DEMO_SMS_SID = "ACstoreflowdemo"
DEMO_SMS_TOKEN = "storeflow-demo"  # noqa: S105


class MissingCredential(RuntimeError):
    """A credential or address that production needs is not configured."""


def is_demo() -> bool:
    """True when the demo profile is on (``STOREFLOW_PROFILE=demo``)."""
    from storeflow.settings import get_settings

    return get_settings().profile == "demo"


def _plain(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return str(value) or None


def credential(value: Any, *, demo: str, what: str, conn_id: str, env: str | None = None) -> str:
    """``value`` when configured; the demo value in the demo profile; else :class:`MissingCredential`."""
    plain = _plain(value)
    if plain:
        return plain
    if is_demo():
        return demo
    where = f"the Airflow connection {conn_id}" + (f" (or {env})" if env else "")
    raise MissingCredential(f"{what} is not configured: set {where}")


def is_loopback(url: str) -> bool:
    """True for a URL whose host is loopback or ``localhost``."""
    host = (urlsplit(url).hostname or "").lower()
    return host in {"localhost", "::1"} or host.startswith("127.") or host.endswith(".localhost")


def address(url: str | None, *, what: str, conn_id: str, env: str | None = None) -> str:
    """A configured base URL; outside the demo profile an unset or loopback one is :class:`MissingCredential`."""
    if url and (is_demo() or not is_loopback(url)):
        return url
    where = f"the Airflow connection {conn_id}" + (f" (or {env})" if env else "")
    state = "points at a loopback address (the simulators)" if url else "is not configured"
    raise MissingCredential(f"{what} {state}: set {where}, or run with STOREFLOW_PROFILE=demo")
