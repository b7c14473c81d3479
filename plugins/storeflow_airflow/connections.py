"""Build storeflow's clients and stores from Airflow connections, falling back to the embedded defaults.

Connections (all optional; ``AIRFLOW_CONN_*`` env vars work too):
``storeflow_pos`` (host = base URL, password = bearer token), ``storeflow_store`` (host = base URL,
login = consumer key, password = consumer secret), ``storeflow_warehouse`` (an SQLAlchemy URI, or
``extra.url``), ``storeflow_landing`` (``extra.url`` = s3://bucket/prefix, optional ``extra.endpoint_url``,
login/password = AWS key pair), ``storeflow_smtp``, ``storeflow_sms``, ``storeflow_alerts``.
With none set, storeflow uses the SQLite warehouse and local landing folder under STOREFLOW_DATA_DIR
and the local simulators with their demo credentials.

``storeflow_pos`` and ``storeflow_store`` extras: ``ca_bundle`` (or ``verify``), a CA bundle path for a
store or proxy whose certificate a private CA signed (TLS verification cannot be switched off:
``verify: false`` is refused); ``storeflow_store`` also takes ``auth``: ``auto`` (default: HTTP Basic
over https://, OAuth 1.0a signatures over http://), ``basic``, ``query`` or ``oauth1``. The connection id
is passed to the client so fatal errors (refused, 401/403, TLS) name it.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException


def optional_connection(conn_id: str) -> Any | None:
    """The Airflow connection ``conn_id``, or None when it is not defined."""
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def _base_url(conn) -> str | None:
    host = (conn.host or "").rstrip("/")
    if not host:
        return None
    if "://" not in host:
        scheme = (conn.schema or "http") if conn.schema in ("http", "https") else "http"
        host = f"{scheme}://{host}"
    return f"{host}:{conn.port}" if conn.port else host


def client_options(conn) -> dict[str, Any]:
    """Client keyword arguments from a connection's extras (``ca_bundle``/``verify``)."""
    extra = conn.extra_dejson or {}
    verify = extra.get("ca_bundle", extra.get("verify"))
    if verify is None or verify is True or (isinstance(verify, str) and verify.lower() == "true"):
        return {}
    if verify is False or (isinstance(verify, str) and verify.strip().lower() in ("", "false", "0", "no")):
        raise ValueError(f"connection {conn.conn_id}: TLS verification cannot be switched off; set extra "
                         "'ca_bundle' to the CA bundle that signed the server's certificate")
    return {"verify": str(verify)}


def warehouse_url(conn_id: str = "storeflow_warehouse") -> str | None:
    """The warehouse SQLAlchemy URL from the connection, or None for the embedded default."""
    conn = optional_connection(conn_id)
    if conn is None:
        return None
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return extra["url"]
    uri = conn.get_uri()
    return uri.replace("postgres://", "postgresql+psycopg://", 1).replace("postgresql://", "postgresql+psycopg://", 1)


def warehouse_engine(conn_id: str = "storeflow_warehouse"):
    """A migrated warehouse engine."""
    from storeflow.warehouse.db import connect_warehouse

    return connect_warehouse(warehouse_url(conn_id))


def landing_zone(conn_id: str = "storeflow_landing"):
    """The landing zone: S3 when the connection names a bucket, else the local folder."""
    from storeflow.landing import LandingZone

    conn = optional_connection(conn_id)
    if conn is None:
        return LandingZone.from_settings()
    extra = conn.extra_dejson or {}
    session = None
    if conn.login:
        import boto3

        session = boto3.session.Session(
            aws_access_key_id=conn.login, aws_secret_access_key=conn.password,
            region_name=extra.get("region_name", "us-east-1"),
        )
    return LandingZone.from_url(extra.get("url") or f"s3://{conn.host}", endpoint_url=extra.get("endpoint_url"),
                                session=session)


class StoreflowPosHook(BaseHook):
    """Builds the POS (Square-contract) client from ``storeflow_pos``."""

    conn_name_attr = "pos_conn_id"
    default_conn_name = "storeflow_pos"
    conn_type = "http"
    hook_name = "storeflow POS"

    def __init__(self, pos_conn_id: str = default_conn_name, **kwargs):
        super().__init__(**kwargs)
        self.pos_conn_id = pos_conn_id

    def get_conn(self):
        """A ready :class:`storeflow.connectors.square.SquareClient`."""
        from storeflow.connectors.square import SquareClient

        conn = optional_connection(self.pos_conn_id)
        if conn is None:
            return SquareClient.from_settings(conn_id=self.pos_conn_id)
        if not conn.password:
            raise ValueError(f"connection {self.pos_conn_id} has no password (the POS access token)")
        return SquareClient(_base_url(conn) or SquareClient.from_settings().base_url, conn.password,
                            conn_id=self.pos_conn_id, **client_options(conn))


class StoreflowStoreHook(BaseHook):
    """Builds the store (WooCommerce-contract) client from ``storeflow_store``."""

    conn_name_attr = "store_conn_id"
    default_conn_name = "storeflow_store"
    conn_type = "http"
    hook_name = "storeflow store"

    def __init__(self, store_conn_id: str = default_conn_name, **kwargs):
        super().__init__(**kwargs)
        self.store_conn_id = store_conn_id

    def get_conn(self):
        """A ready :class:`storeflow.connectors.woocommerce.WooClient`."""
        from storeflow.connectors.woocommerce import WooClient

        conn = optional_connection(self.store_conn_id)
        if conn is None:
            return WooClient.from_settings(conn_id=self.store_conn_id)
        if not (conn.login and conn.password):
            raise ValueError(f"connection {self.store_conn_id} needs login (consumer key) and password (secret)")
        auth = (conn.extra_dejson or {}).get("auth", "auto")
        return WooClient(_base_url(conn) or WooClient.from_settings().base_url, conn.login, conn.password,
                         auth=auth, conn_id=self.store_conn_id, **client_options(conn))
