"""The warehouse schema (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

Conventions: money in integer minor units (``*_minor``) plus a currency; quantities as NUMERIC (the POS
uses decimal strings); timestamps are aware UTC (:class:`UTCDateTime`); natural keys are primary keys
so that every load is an idempotent upsert. Alembic migrations under ``migrations/`` must match this
module (a test compares them).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from storeflow.warehouse.coltypes import JSONType, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

Qty = Numeric(18, 5, asdecimal=True)


def _loaded_at() -> Column:
    return Column("loaded_at", UTCDateTime, nullable=False)


# --- catalog -----------------------------------------------------------------------------------
products = Table(
    "products",
    metadata,
    Column("sku", String(255), primary_key=True),
    Column("pos_item_id", String(64)),
    Column("pos_variation_id", String(64), index=True),
    Column("name", String(512), nullable=False),
    Column("variation_name", String(255)),
    Column("category", String(255)),
    Column("attributes", JSONType),
    Column("price_minor", BigInteger),
    Column("currency", String(3)),
    Column("track_inventory", Boolean),
    Column("pos_version", BigInteger),
    Column("pos_updated_at", UTCDateTime),
    Column("is_deleted", Boolean, nullable=False, default=False),
    Column("store_product_id", BigInteger),
    Column("store_variation_id", BigInteger),
    Column("store_price_minor", BigInteger),
    Column("store_stock", Integer),
    Column("store_status", String(32)),
    Column("store_updated_at", UTCDateTime),
    _loaded_at(),
)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("pos_variation_id", String(64), primary_key=True),
    Column("location_id", String(64), primary_key=True),
    Column("state", String(32), primary_key=True),
    Column("sku", String(255), index=True),
    Column("quantity", Qty, nullable=False),
    Column("calculated_at", UTCDateTime),
    _loaded_at(),
)

locations = Table(
    "locations",
    metadata,
    Column("location_id", String(64), primary_key=True),
    Column("name", String(255)),
    Column("status", String(16)),
    Column("timezone", String(64)),
    Column("currency", String(3)),
    _loaded_at(),
)

# --- customers ---------------------------------------------------------------------------------
customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("email", String(320), index=True),
    Column("phone", String(32), index=True),
    Column("given_name", String(255)),
    Column("family_name", String(255)),
    Column("address_line1", String(255)),
    Column("city", String(255)),
    Column("postcode", String(32)),
    Column("country", String(2)),
    Column("timezone", String(64)),
    Column("acquisition_channel", String(32)),
    Column("preferred_channel", String(16)),
    Column("preferred_hour", Integer),
    Column("preferred_weekday", Integer),
    Column("field_updated_at", JSONType, doc="per-field source timestamp for survivorship"),
    Column("created_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    Column("erased_at", UTCDateTime),
    _loaded_at(),
)

customer_identities = Table(
    "customer_identities",
    metadata,
    Column("source_system", String(16), primary_key=True),
    Column("source_id", String(64), primary_key=True),
    Column("customer_id", String(64), index=True),
    Column("email_norm", String(320), index=True),
    Column("phone_e164", String(32), index=True),
    Column("given_name", String(255)),
    Column("family_name", String(255)),
    Column("postcode", String(32)),
    Column("country", String(2)),
    Column("source_version", BigInteger),
    Column("source_updated_at", UTCDateTime),
    Column("raw", JSONType),
    Column("match_rule", String(32)),
    Column("match_confidence", Float),
    _loaded_at(),
)

consents = Table(
    "consents",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("topic", String(32), primary_key=True, default="marketing"),
    Column("status", String(16), nullable=False),  # subscribed | unsubscribed | never
    Column("source_system", String(16)),
    Column("changed_at", UTCDateTime, nullable=False),
    Column("reason", String(255)),
)

# --- orders ------------------------------------------------------------------------------------
orders = Table(
    "orders",
    metadata,
    Column("source_system", String(16), primary_key=True),
    Column("order_id", String(64), primary_key=True),
    Column("customer_source_id", String(64)),
    Column("customer_id", String(64), index=True),
    Column("email_norm", String(320)),
    Column("location_id", String(64)),
    Column("channel", String(16), nullable=False),  # online | in_store
    Column("status", String(32), nullable=False),
    Column("currency", String(3)),
    Column("total_minor", BigInteger),
    Column("tax_minor", BigInteger),
    Column("discount_minor", BigInteger),
    Column("shipping_minor", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime),
    Column("paid_at", UTCDateTime),
    Column("version", BigInteger),
    Column("created_via", String(64)),
    Column("user_agent", String(512)),
    Column("acquisition_channel", String(32)),
    Column("reference_id", String(64)),
    _loaded_at(),
    Index("ix_orders_created_at", "created_at"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("source_system", String(16), primary_key=True),
    Column("order_id", String(64), primary_key=True),
    Column("line_id", String(64), primary_key=True),
    Column("sku", String(255), index=True),
    Column("pos_variation_id", String(64)),
    Column("name", String(512)),
    Column("quantity", Qty, nullable=False),
    Column("unit_price_minor", BigInteger),
    Column("total_minor", BigInteger),
    _loaded_at(),
)

invoices = Table(
    "invoices",
    metadata,
    Column("source_system", String(16), primary_key=True),
    Column("invoice_id", String(64), primary_key=True),
    Column("order_source_system", String(16)),
    Column("order_id", String(64)),
    Column("customer_source_id", String(64)),
    Column("status", String(32)),
    Column("total_minor", BigInteger),
    Column("currency", String(3)),
    Column("created_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    _loaded_at(),
)

# --- bookkeeping -------------------------------------------------------------------------------
sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("source_system", String(16), primary_key=True),
    Column("cursor_at", UTCDateTime, nullable=False),
    Column("run_id", String(255)),
    Column("updated_at", UTCDateTime, nullable=False),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(255)),
    Column("dag_id", String(255)),
    Column("task_id", String(255)),
    Column("stream", String(64), nullable=False),
    Column("source_system", String(16)),
    Column("status", String(16), nullable=False),  # running | success | failed
    Column("window_start", UTCDateTime),
    Column("window_end", UTCDateTime),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("rows_read", Integer, default=0),
    Column("rows_changed", Integer, default=0),
    Column("rows_pushed", Integer, default=0),
    Column("requests", Integer, default=0),
    Column("retries", Integer, default=0),
    Column("quarantined", Integer, default=0),
    Column("details", JSONType),
    Column("error", Text),
    Index("ix_sync_runs_stream_finished", "stream", "finished_at"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stream", String(64), nullable=False),
    Column("source_system", String(16), nullable=False),
    Column("source_id", String(255), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", JSONType),
    Column("run_id", String(255)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    UniqueConstraint("stream", "source_system", "source_id", "rule", name="uq_quarantine_record_rule"),
)

push_state = Table(
    "push_state",
    metadata,
    Column("target_system", String(16), primary_key=True),
    Column("entity", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("payload", JSONType, nullable=False),
    Column("pushed_at", UTCDateTime, nullable=False),
    Column("run_id", String(255)),
)
