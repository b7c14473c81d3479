"""The warehouse schema (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

Conventions: money in integer minor units (``*_minor``) plus a currency; quantities as NUMERIC (the POS
uses decimal strings); timestamps are aware UTC (:class:`UTCDateTime`); natural keys are primary keys
so that every load is an idempotent upsert. Alembic migrations under ``migrations/`` must match this
module (a test compares them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    LargeBinary,
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


def _loaded_at() -> Column[datetime]:
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
    # the source-change window an extract read (start NULL = full read); NULL for pushes (storeflow.warehouse.runs)
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

# --- sync (what storeflow wrote to the other system) ---------------------------------------------
order_line_sync = Table(
    "order_line_sync",
    metadata,
    Column("store_order_id", String(64), primary_key=True),
    Column("line_id", String(64), primary_key=True),
    Column("sku", String(255)),
    Column("pos_variation_id", String(64)),
    Column("location_id", String(64)),
    Column("quantity", Qty, nullable=False),
    Column("applied_key", String(128)),  # idempotency key of the IN_STOCK -> SOLD adjustment
    Column("applied_at", UTCDateTime),
    Column("reversed_key", String(128)),
    Column("reversed_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)

catalog_push_state = Table(
    "catalog_push_state",
    metadata,
    Column("sku", String(255), primary_key=True),
    Column("price_minor", BigInteger),
    Column("stock_quantity", Integer),
    Column("pushed_at", UTCDateTime, nullable=False),
    Column("run_id", String(255)),
)

store_receipts = Table(
    "store_receipts",
    metadata,
    Column("store_order_id", String(64), primary_key=True),
    Column("pos_order_id", String(64), nullable=False),
    Column("total_minor", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
)

reconciliation_runs = Table(
    "reconciliation_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(255)),
    Column("checked_at", UTCDateTime, nullable=False),
    Column("skus_checked", Integer, nullable=False),
    Column("drift_skus", Integer, nullable=False),
    Column("drift_units", Integer, nullable=False),
    Column("fixed_skus", Integer, nullable=False),
    Column("unexplained_skus", Integer, nullable=False),
    Column("details", JSONType),
)


# --- operations ---------------------------------------------------------------------------------
alert_incidents = Table(
    "alert_incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_key", String(255), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("title", String(512), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("occurrences", Integer, nullable=False, default=1),
    Column("resolved_at", UTCDateTime),
    Column("details", JSONType),
)


# --- campaigns ---------------------------------------------------------------------------------
campaign_runs = Table(
    "campaign_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("as_of", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("eligible", Integer, nullable=False, default=0),
    Column("planned", Integer, nullable=False, default=0),
    Column("held_quiet_hours", Integer, nullable=False, default=0),
    Column("excluded", JSONType, doc="reason -> count"),
    Column("definition", JSONType, doc="the validated campaign definition used by this run"),
    Column("error", Text),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_key", String(64), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),  # email | sms
    Column("topic", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # marketing | transactional
    Column("is_discount", Boolean, nullable=False, default=False),
    Column("trigger_window", String(128), nullable=False),
    Column("send_at", UTCDateTime, nullable=False),
    Column("held_quiet_hours", Boolean, nullable=False, default=False),
    Column("state", String(16), nullable=False),  # planned | sending | sent | failed | skipped
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_at", UTCDateTime),
    Column("claim_token", String(32)),
    Column("sent_at", UTCDateTime),
    Column("provider", String(16)),
    Column("provider_id", String(255)),
    Column("error", Text),
    Column("payload", JSONType, doc="render context (offer, sku, ...); contact data is read at send time"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("message_key", name="uq_messages_message_key"),
    Index("ix_messages_state_send_at", "state", "send_at"),
    Index("ix_messages_customer_send_at", "customer_id", "send_at"),
)

message_events = Table(
    "message_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_key", String(64), nullable=False, index=True),
    Column("event", String(16), nullable=False),  # sent delivered opened clicked bounced complained unsubscribed
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("detail", JSONType),
)

holdout_assignments = Table(
    "holdout_assignments",
    metadata,
    Column("scope", String(64), primary_key=True),  # "global" or a campaign id
    Column("customer_id", String(64), primary_key=True),
    Column("bucket", Float, nullable=False),
    Column("share", Float, nullable=False),
    Column("run_id", String(64)),
    Column("assigned_at", UTCDateTime, nullable=False),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("reason", String(32), nullable=False),  # bounce | complaint | manual
    Column("address", String(320)),
    Column("created_at", UTCDateTime, nullable=False),
)

campaign_exclusions = Table(
    "campaign_exclusions",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("customer_id", String(64), primary_key=True),
    Column("reason", String(32), nullable=False),
    Index("ix_campaign_exclusions_customer", "customer_id", "campaign_id"),
)

campaign_uplift = Table(
    "campaign_uplift",
    metadata,
    Column("as_of", UTCDateTime, primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("treatment_n", Integer, nullable=False),
    Column("treatment_conversions", Integer, nullable=False),
    Column("treatment_revenue_minor", BigInteger, nullable=False),
    Column("holdout_n", Integer, nullable=False),
    Column("holdout_conversions", Integer, nullable=False),
    Column("holdout_revenue_minor", BigInteger, nullable=False),
    Column("incremental_revenue_minor", BigInteger),
    Column("z", Float),
    Column("p_value", Float),
)

# --- scoring -----------------------------------------------------------------------------------
# Scores are versioned: score_partition writes rows under a new model_version (invisible to readers),
# publish_scores flips score_versions.is_current in one transaction. Read through
# storeflow.scoring.pipeline.current_scores(conn). Money columns are rounded integer minor units.
model_runs = Table(
    "model_runs",
    metadata,
    Column("model_version", String(64), primary_key=True),
    Column("as_of", UTCDateTime, nullable=False),
    Column("method", String(16), nullable=False),  # bgnbd | boosted | heuristic (gate + backtest decision)
    Column("gate_reason", String(255)),
    Column("params", JSONType, nullable=False),  # fitted parameters, calibration map, priors
    Column("metrics", JSONType),  # backtest metrics (incl. the BG/NBD vs boosted vs recency-rule table)
    Column("n_customers", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # fitted | published
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime),
    # the fitted boosted model (pickle; its sha256 is in params["boosted"]["sha256"]); NULL without one
    Column("artifact", LargeBinary),
)

score_versions = Table(
    "score_versions",
    metadata,
    Column("model_version", String(64), primary_key=True),
    Column("as_of", UTCDateTime, nullable=False),
    Column("is_current", Boolean, nullable=False, default=False),
    Column("customers", Integer),
    Column("replenishment_rows", Integer),
    Column("published_at", UTCDateTime, nullable=False),
)
# at most one current version, also under concurrent publishes (partial unique index)
Index("uq_score_versions_one_current", score_versions.c.is_current, unique=True,
      postgresql_where=score_versions.c.is_current, sqlite_where=score_versions.c.is_current)

score_partitions = Table(
    "score_partitions",
    metadata,
    Column("model_version", String(64), primary_key=True),
    Column("n_partitions", Integer, primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("customers", Integer, nullable=False),
    Column("replenishment_rows", Integer, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
)

customer_scores = Table(
    "customer_scores",
    metadata,
    Column("as_of", UTCDateTime, primary_key=True),
    Column("model_version", String(64), primary_key=True),
    Column("customer_id", String(64), primary_key=True),
    Column("method", String(16), nullable=False),  # bgnbd | boosted | heuristic: the model that served the row
    Column("method_reason", String(255)),  # why that model served this customer
    Column("partition", Integer),
    Column("first_order_at", UTCDateTime),
    Column("last_order_at", UTCDateTime),
    Column("n_orders", Integer, nullable=False),
    Column("frequency", Integer),  # repeat purchase days (BTYD x)
    Column("recency_days", Integer),  # days since the last order (RFM R)
    Column("t_days", Integer),  # days since the first order (BTYD T)
    Column("monetary_minor", BigInteger),  # total spend (RFM M)
    Column("r_score", Integer),
    Column("f_score", Integer),
    Column("m_score", Integer),
    Column("rfm_segment", String(32)),
    Column("p_alive", Float),
    Column("expected_orders_30", Float),
    Column("expected_orders_90", Float),
    Column("expected_orders_365", Float),
    Column("expected_spend_minor", BigInteger),
    Column("clv_365_minor", BigInteger),
    Column("historic_clv_minor", BigInteger),
    Column("acquisition_channel", String(32)),
    Column("acquisition_cost_minor", BigInteger),
    Column("clv_net_minor", BigInteger),
    Column("avg_days_between_orders", Float),
    Column("aov_minor", BigInteger),
    Column("churn_probability", Float),
    Column("churn_raw", Float),
    Column("next_order_date", Date),
    Column("preferred_hour", Integer),
    Column("preferred_weekday", Integer),
    Column("send_hour", Integer),
    Column("send_time_source", String(16)),
    Column("send_time_explore", Boolean),
    Column("preferred_channel", String(16)),
    Column("channel_reason", String(32)),
    Column("top_category", String(255)),
    Column("category_affinity", JSONType),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_customer_scores_version", "model_version"),
)

replenishment_predictions = Table(
    "replenishment_predictions",
    metadata,
    Column("as_of", UTCDateTime, primary_key=True),
    Column("model_version", String(64), primary_key=True),
    Column("customer_id", String(64), primary_key=True),
    Column("sku", String(255), primary_key=True),
    Column("last_purchase_at", UTCDateTime),
    Column("last_quantity", Float),
    Column("days_per_unit", Float),
    Column("predicted_runout_date", Date, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("basis", String(16), nullable=False),  # own | population
    Column("n_intervals", Integer),
    Index("ix_replenishment_predictions_version", "model_version"),
)


# --- quality -----------------------------------------------------------------------------------
customer_merges = Table(
    "customer_merges",
    metadata,
    Column("merge_id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", String(64), nullable=False, index=True),  # golden record the identity joined
    Column("source_system", String(16), nullable=False),  # the identity that was attached
    Column("source_id", String(64), nullable=False),
    Column("previous_customer_id", String(64), nullable=False),  # where undo puts the identity back
    Column("matched_source_system", String(16)),  # the identity it matched
    Column("matched_source_id", String(64)),
    Column("rule", String(32), nullable=False),  # email | phone | fuzzy_name_address
    Column("confidence", Float, nullable=False),
    Column("details", JSONType),
    Column("run_id", String(255)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("undone_at", UTCDateTime),
    Column("undo_reason", String(255)),
    Index("ix_customer_merges_identity", "source_system", "source_id"),
)

possible_duplicates = Table(
    "possible_duplicates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_system", String(16), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("customer_id", String(64)),  # the identity's own golden record
    Column("candidate_source_system", String(16), nullable=False),
    Column("candidate_source_id", String(64), nullable=False),
    Column("candidate_customer_id", String(64)),
    Column("rule", String(32), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("details", JSONType),
    Column("status", String(16), nullable=False, default="open"),  # open | merged | dismissed
    Column("run_id", String(255)),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("source_system", "source_id", "candidate_source_system", "candidate_source_id",
                     name="uq_possible_duplicates_pair"),
)

identity_consents = Table(
    "identity_consents",
    metadata,
    Column("source_system", String(16), primary_key=True),
    Column("source_id", String(64), primary_key=True),
    Column("channel", String(16), primary_key=True),  # email | sms
    Column("topic", String(32), primary_key=True, default="marketing"),
    Column("status", String(16), nullable=False),  # subscribed | unsubscribed (explicit choices only)
    Column("changed_at", UTCDateTime, nullable=False),
)


# --- privacy ---------------------------------------------------------------------------------------
# GDPR erasure (storeflow.privacy) and inbound webhooks (storeflow.webhooks). None of these tables holds
# personal data: subjects are keyed by keyed-HMAC pseudonyms, webhook bodies only by their hash.
erasure_log = Table(
    "erasure_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(64), nullable=False, index=True),  # pseudonym of the golden customer id
    Column("requested_by", String(255), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(16), nullable=False),  # erased | already_erased | not_found | dry_run | failed
    Column("counts", JSONType, doc="table/area -> rows or pages touched"),
    Column("external", JSONType, doc="opt-out results per system (ok/error codes, no personal data)"),
    Column("error", Text),
)

erased_subjects = Table(
    "erased_subjects",
    metadata,
    Column("key_hash", String(64), primary_key=True),  # HMAC of "<kind>:<value>" (source id, email, phone)
    Column("kind", String(16), nullable=False),  # customer | pos | store | email | phone
    Column("subject", String(64), nullable=False),  # pseudonym of the golden customer id
    Column("erased_at", UTCDateTime, nullable=False),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),  # woocommerce | square
    Column("event_id", String(128), nullable=False),  # Square event_id / WooCommerce delivery id
    Column("topic", String(128)),
    Column("resource_id", String(128)),
    Column("body_sha256", String(64), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime),
    UniqueConstraint("source", "event_id", name="uq_webhook_events_source_event"),
)
