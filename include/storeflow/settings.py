"""One typed settings object for every storeflow tunable.

Values come from environment variables prefixed ``STOREFLOW_`` (e.g. ``STOREFLOW_STOCK_BUFFER=2``);
nested/complex values are JSON (e.g. ``STOREFLOW_ACQUISITION_COST='{"ads": 25}'``). The Airflow glue in
``plugins/`` may overlay Airflow Variables before calling library code. Never scatter literals: read them
from :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
    drift_alert_units: int = Field(10, ge=0, description="Reconciliation drift that raises an alert.")

    # --- quality -------------------------------------------------------------------------------
    default_phone_region: str = Field("GB", description="Region for phone numbers without +country.")
    quarantine_threshold: float = Field(0.05, ge=0, le=1, description="Bad-row share that fails a batch.")
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
