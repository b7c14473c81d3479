"""One typed settings object for every storeflow tunable.

Values come from environment variables prefixed ``STOREFLOW_`` (e.g. ``STOREFLOW_STOCK_BUFFER=2``);
nested/complex values are JSON (e.g. ``STOREFLOW_ACQUISITION_COST='{"ads": 25}'``). The Airflow glue in
``plugins/`` may overlay Airflow Variables before calling library code. Never scatter literals: read them
from :func:`get_settings`.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All storeflow tunables with their documented defaults."""

    model_config = SettingsConfigDict(env_prefix="STOREFLOW_", extra="ignore")

    # --- storage -------------------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Root of the embedded defaults (warehouse, landing).")
    warehouse_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite file in data_dir.")
    landing_url: str | None = Field(None, description="s3://bucket/prefix or a folder; default data_dir/landing.")
    s3_endpoint_url: str | None = Field(None, description="Custom S3 endpoint (MinIO, moto).")

    # --- profile -------------------------------------------------------------------------------
    profile: Literal["production", "demo"] = Field(
        "production", description="demo: simulators' loopback URLs and demo credentials are allowed "
        "(make demo / airflow / sims set it); production: a missing credential or a loopback public URL "
        "is an error naming what to set.")

    # --- simulators / endpoints ---------------------------------------------------------------
    pos_url: str = Field("http://127.0.0.1:8701", description="POS (Square-contract) base URL.")
    store_url: str = Field("http://127.0.0.1:8702", description="Online store (WooCommerce-contract) base URL.")
    sms_url: str = Field("http://127.0.0.1:8703", description="SMS gateway (Twilio-contract) base URL.")
    smtp_host: str = Field("127.0.0.1", description="SMTP relay host.")
    smtp_port: int = Field(8725, ge=1, le=65535, description="SMTP relay port.")
    smtp_api_url: str = Field("http://127.0.0.1:8726", description="SMTP sink HTTP API (simulator only).")
    smtp_username: str | None = Field(None, description="SMTP AUTH user (else the connection storeflow_smtp).")
    smtp_password: SecretStr | None = Field(None, description="SMTP AUTH password.")
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        "none", description="SMTP transport security: starttls (port 587), ssl (implicit TLS, port 465) or none.")

    # --- sync ----------------------------------------------------------------------------------
    stock_buffer: int = Field(0, ge=0, description="Units held back from the online store per SKU.")
    online_locations: list[str] = Field(
        default_factory=list, description="POS location ids feeding online stock; empty = all ACTIVE."
    )
    currency: str = Field("GBP", description="Shop currency (ISO 4217).")
    new_product_status: str = Field("draft", description="Status of store products created from the POS.")
    overlap_minutes: int = Field(5, ge=0, description="Re-read window for store/catalog cursors.")
    pos_orders_lookback_hours: int = Field(72, ge=0, description="Look-back for POS orders (offline mode).")
    page_size: int = Field(100, ge=1, le=100, description="Store page size (max 100).")
    http_max_attempts: int = Field(6, ge=1, description="Attempts per HTTP request before failing.")
    http_backoff_max_seconds: float = Field(30.0, gt=0, description="Cap for one backoff wait.")
    http_timeout_seconds: float = Field(30.0, gt=0)
    pos_token: SecretStr | None = Field(None, description="POS bearer token (else the simulator demo token).")
    store_key: SecretStr | None = Field(None, description="Store consumer key (else the simulator demo key).")
    store_secret: SecretStr | None = Field(None, description="Store consumer secret.")
    freshness_limits_minutes: dict[str, int] = Field(
        default_factory=dict, description="Per-stream freshness limit override (default 2x its schedule)."
    )
    reconcile_fix_unexplained: bool = Field(
        False, description="Also overwrite store stock changed outside storeflow (else only report it)."
    )
    reconcile_orders_days: int = Field(7, ge=1, description="Store orders re-read by the nightly reconciliation.")
    drift_alert_units: int = Field(10, ge=0, description="Reconciliation drift that raises an alert.")
    push_error_threshold: float = Field(
        0.05, ge=0, le=1, description="Failed share of a push's records above which the push task fails."
    )
    push_error_min_failures: int = Field(
        3, ge=1, description="Failures a push needs before the share can fail it (1 of 2 only warns)."
    )

    # --- quality -------------------------------------------------------------------------------
    default_phone_region: str = Field("GB", description="Region for phone numbers without +country.")
    quarantine_threshold: float = Field(
        0.05, ge=0, le=1,
        description="Bad-row share that fails a batch (only together with quarantine_min_rows).",
    )
    quarantine_min_rows: int = Field(
        20, ge=1,
        description="Bad rows a batch needs before its bad share can fail it: fewer are quarantined, the rest "
                    "loads and a WARNING with the counts is logged (a 1-row hourly batch never fails on 1 bad row).",
    )
    earliest_order_date: date = Field(
        date(1990, 1, 1), description="Orders dated before this are quarantined (date_out_of_range).",
    )
    fuzzy_match_threshold: float = Field(0.92, ge=0, le=1, description="Confidence needed to merge fuzzily.")

    # --- scoring -------------------------------------------------------------------------------
    clv_discount_rate: float = Field(0.10, ge=0, description="Annual discount rate for predicted CLV.")
    acquisition_cost: dict[str, float] = Field(
        default_factory=lambda: {"ads": 25.0, "referral": 10.0, "coupon": 5.0, "organic": 0.0, "in_store": 0.0},
        description="Cost per acquisition channel, subtracted from CLV.",
    )
    affinity_half_life_days: float = Field(180.0, gt=0)
    min_purchasers: int = Field(500, ge=0, description="Minimum-data gate: purchasers needed to fit models.")
    min_history_days: int = Field(180, ge=0, description="Minimum-data gate: days of history needed.")
    send_time_exploration: float = Field(0.1, ge=0, le=1)
    send_time_prior_strength: float = Field(
        5.0, ge=0, description="Pseudo-events of the population hour-of-week prior per customer."
    )
    default_timezone: str = Field("Europe/London", description="Customer time zone when unknown.")
    channel_cost: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.001, "sms": 0.04},
        description="Cost per message by channel (tie-breaker for the preferred channel).",
    )
    btyd_penalizer: float = Field(0.0, ge=0, description="L2 penalty on BG/NBD and Gamma-Gamma parameters.")
    churn_horizon_days: int = Field(90, ge=1, description="Churn = no order within this many days.")
    backtest_holdout_days: int = Field(90, ge=7, description="Holdout length of the scoring backtest.")
    replenishment_min_population_intervals: int = Field(
        3, ge=1, description="Repeat intervals a SKU needs before its population interval is used."
    )
    replenishment_max_overdue_days: float = Field(
        90.0, ge=0, description="Drop run-out predictions that lie further than this in the past."
    )
    scores_keep_versions: int = Field(3, ge=1, description="Published score versions kept in the warehouse.")
    scoring_partitions: int = Field(4, ge=1, le=256, description="Customer-hash partitions scored in parallel.")
    boosted_min_customers: int = Field(
        2000, ge=0, description="Customers the backtest needs before the boosted model may replace BG/NBD "
        "(smaller backtests are too noisy to trust); 0 disables the boosted model's data gate."
    )
    boosted_enabled: bool = Field(True, description="Try the boosted buy-again model (it serves only where "
                                  "its backtest beats BG/NBD).")

    # --- campaigns -----------------------------------------------------------------------------
    global_holdout_share: float = Field(0.05, ge=0, le=1)
    campaign_holdout_share: float = Field(0.10, ge=0, le=1)
    holdout_salt: str = Field("storeflow-holdout-v1")
    smart_sending_hours_email: int = Field(16, ge=0)
    smart_sending_hours_sms: int = Field(24, ge=0)
    cap_per_7_days: int = Field(3, ge=0)
    cap_per_day: int = Field(1, ge=0)
    discount_cooldown_days: int = Field(14, ge=0)
    reeligibility_days: int = Field(30, ge=0)
    quiet_hours_email: tuple[int, int] = Field((8, 21), description="Allowed local hours [start, end).")
    quiet_hours_sms: tuple[int, int] = Field((9, 20), description="Allowed local hours [start, end).")
    attribution_days: int = Field(7, ge=0)
    shop_name: str = Field("Storeflow Demo Shop")
    shop_postal_address: str = Field("1 High Street, Exampleton EX1 2MP, United Kingdom")
    unsubscribe_base_url: str = Field("http://127.0.0.1:8727/u")
    unsubscribe_mailto: str | None = Field(None, description="Optional mailto for List-Unsubscribe.")
    unsubscribe_port: int = Field(8727, description="Port of the unsubscribe endpoint.")
    campaign_from_email: str = Field("shop@storeflow.example", description="From address of campaign email.")
    campaign_message_id_domain: str = Field("storeflow.example", description="Domain of stable Message-IDs.")
    sms_from: str = Field("+447700900123", description="Sender number for campaign SMS.")
    sms_account_sid: str | None = Field(None, description="SMS account SID (else the simulator demo SID).")
    sms_auth_token: SecretStr | None = Field(None, description="SMS auth token (else the simulator token).")
    email_sender: str = Field("smtp", description="Email provider: smtp | ses.")
    ses_region: str = Field("eu-west-1")
    ses_configuration_set: str | None = Field(None)
    campaign_min_affinity: float = Field(0.2, ge=0, description="Category affinity for catalog-event campaigns.")
    dispatch_lease_minutes: int = Field(15, ge=1, description="Age after which a `sending` message is stale.")
    dispatch_max_attempts: int = Field(5, ge=1, description="Send attempts before a message fails.")
    dispatch_retry_minutes: int = Field(10, ge=1, description="Delay before retrying a transient failure.")
    dispatch_commit_every: int = Field(50, ge=1, description="Messages marked sent per commit.")
    dispatch_max_age_hours: int = Field(48, ge=1, description="Planned messages older than this are skipped.")
    dispatch_connections: int = Field(4, ge=1, le=32, description="Parallel provider connections per channel.")

    @property
    def warehouse_path(self) -> Path:
        """Default SQLite warehouse file."""
        return self.data_dir / "warehouse.db"

    @property
    def landing_dir(self) -> Path:
        """Default local landing folder."""
        return self.data_dir / "landing"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` after changing env)."""
    return Settings()
