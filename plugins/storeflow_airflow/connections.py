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


def connection_fields(conn_id: str) -> Any | None:
    """The Airflow connection ``conn_id`` as :class:`storeflow.resources.ConnectionFields` (None if undefined)."""
    from storeflow.resources import ConnectionFields

    conn = optional_connection(conn_id)
    if conn is None:
        return None
    return ConnectionFields(conn_id, host=conn.host, port=conn.port, schema=conn.schema, login=conn.login,
                            password=conn.password, extra=conn.extra_dejson or {})


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


def warehouse_engine():
    """A migrated warehouse engine (``storeflow_warehouse``, else the configured default)."""
    from storeflow_airflow.resources import task_resources

    return task_resources().warehouse_engine()


def landing_zone():
    """The landing zone: S3 when ``storeflow_landing`` names a bucket, else the local folder."""
    from storeflow_airflow.resources import task_resources

    return task_resources().landing_zone()


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
        from storeflow.resources import pos_client

        return pos_client(connection_fields(self.pos_conn_id), self.pos_conn_id)


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
        from storeflow.resources import store_client

        return store_client(connection_fields(self.store_conn_id), self.store_conn_id)
