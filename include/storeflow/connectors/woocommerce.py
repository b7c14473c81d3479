"""WooCommerce REST v3 connector: auth, drift-safe paging, SKU lookups and batch writers.

Paging (contract §1.4/§4): every collection read uses ``orderby=id&order=asc`` and a time window sent as
naive UTC with ``dates_are_gmt=true`` (the only safe combination, §1.5), the upper bound frozen by the
caller. WooCommerce pages with OFFSET over a live query, so rows leaving the window while we page shift
everything behind them. :meth:`WooClient.iter_pages` therefore pages with ``offset`` and re-reads one row
of overlap: each page after the first must start at or before the last id already seen; if it does not,
rows moved and the reader steps back until it does. Rows are de-duplicated by id. Nothing is skipped and
nothing is emitted twice, at the cost of one extra row per page.

Authentication (``auth="auto"``, measured on WooCommerce 10.0.2): over **HTTPS**, HTTP Basic with the
consumer key/secret; over **plain HTTP**, OAuth 1.0a one-legged signatures (HMAC-SHA256, parameters in the
query string), signed by ``requests-oauthlib``: the real store refuses Basic and query-string keys unless
the request came over HTTPS. ``auth="query"`` (or ``query_string_auth=True``) sends the keys as query
parameters for HTTPS hosts that strip ``Authorization``; ``auth="basic"``/``"oauth1"`` force a method.
TLS certificates are always verified; ``verify`` takes a CA bundle path for a private CA. Keys never
appear in log lines or error messages, and response headers are never logged (the store echoes query
keys in its ``Link`` header).

Variations (:meth:`WooClient.iter_catalog`): ``GET /variations`` (WooCommerce 10.3+) when the store has it,
probed once per client (404 ``rest_no_route`` means no); otherwise per parent, reading only the variable
parents inside the window: since 10.x a variation's change (stock included) moves its parent's
``date_modified``, so an hourly sync with nothing changed costs two requests, not one per parent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_QUERY
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth1

from storeflow.connectors.http import ApiError, JsonApiClient
from storeflow.connectors.woocommerce_models import (
    CONSENT_META,
    BatchItemError,
    Customer,
    Order,
    Product,
    consent_meta,
    format_gmt,
)
from storeflow.settings import get_settings
from storeflow.warehouse.chunks import chunked

log = logging.getLogger(__name__)

API_PREFIX = "/wp-json/wc/v3"
BATCH_LIMIT = 100
SKU_CHUNK = 50
AuthMethod = Literal["auto", "basic", "query", "oauth1"]


# secrets and personal data that can appear in a request's query string
_KEY_PARAMS = re.compile(r"(consumer_key|consumer_secret|oauth_signature|email|search)=[^&\s\"]*")


class RedactKeys(logging.Filter):
    """Masks keys, signatures and customer emails in log records (urllib3 logs full URLs at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _KEY_PARAMS.search(message):
            record.msg = _KEY_PARAMS.sub(r"\1=***", message)
            record.args = ()
        return True


#: libraries whose DEBUG lines carry signatures, signature base strings and request bodies (personal data)
_SIGNING_LOGGERS = ("oauthlib", "requests_oauthlib")


def _install_redaction() -> None:
    target = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, RedactKeys) for f in target.filters):
        target.addFilter(RedactKeys())
    for name in _SIGNING_LOGGERS:  # unless someone configured them on purpose
        signing = logging.getLogger(name)
        if signing.level == logging.NOTSET:
            signing.setLevel(logging.INFO)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class ConsentNotStored(ApiError):
    """The store answered a consent write but does not show the choice afterwards (e.g. protected meta)."""


@dataclass
class BatchResult:
    """Outcome of a chunked batch call: records the store returned and per-item errors."""

    ok: list[dict[str, Any]] = field(default_factory=list)
    errors: list[BatchItemError] = field(default_factory=list)
    requests: int = 0


class WooClient(JsonApiClient):
    """A client for one WooCommerce store (or the simulator).

    ``auth``: ``"auto"`` (Basic over HTTPS, OAuth 1.0a over HTTP), ``"basic"``, ``"query"`` or ``"oauth1"``;
    ``verify``: ``True`` or a CA bundle path; ``conn_id`` names the connection in fatal errors.
    """

    default_conn_id = "storeflow_store"

    def __init__(
        self,
        base_url: str,
        consumer_key: str,
        consumer_secret: str,
        *,
        auth: AuthMethod = "auto",
        query_string_auth: bool = False,
        per_page: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, **kwargs)
        self._key = consumer_key
        self._secret = consumer_secret
        self.https = urlsplit(self.base_url).scheme.lower() == "https"
        if query_string_auth:
            auth = "query"
        if auth == "auto":
            auth = "basic" if self.https else "oauth1"
        if auth not in ("basic", "query", "oauth1"):
            raise ValueError(f"unknown auth method {auth!r}: use auto, basic, query or oauth1")
        self.auth_method: str = auth
        self.query_string_auth = auth == "query"
        self.per_page = per_page or get_settings().page_size
        if not 2 <= self.per_page <= 100:
            raise ValueError("per_page must be between 2 and 100")
        self._variations_route: bool | None = None  # GET /variations exists? (probed on first use)
        _install_redaction()
        if auth == "basic":
            self.session.auth = HTTPBasicAuth(consumer_key, consumer_secret)
        elif auth == "oauth1":
            self.session.auth = OAuth1(consumer_key, client_secret=consumer_secret,
                                       signature_method=SIGNATURE_HMAC_SHA256, signature_type=SIGNATURE_TYPE_QUERY)
        if auth in ("basic", "query") and not self.https:
            log.warning("%s: %s auth over plain HTTP is refused by WooCommerce unless a TLS proxy tells the site "
                        "the request is HTTPS; auth='auto' signs with OAuth 1.0a over HTTP", self.describe(), auth)

    def __repr__(self) -> str:
        return f"WooClient({self.base_url!r})"

    @classmethod
    def from_settings(cls, **kwargs: Any) -> WooClient:
        """A client for ``STOREFLOW_STORE_URL`` / ``_KEY`` / ``_SECRET``; the simulator and its demo keys only in
        the demo profile (else :class:`storeflow.profile.MissingCredential` naming ``storeflow_store``)."""
        from storeflow import profile

        settings = get_settings()
        where = {"conn_id": kwargs.get("conn_id") or "storeflow_store"}
        base = profile.address(settings.store_url, what="the store URL", env="STOREFLOW_STORE_URL", **where)
        key = profile.credential(settings.store_key, demo=profile.DEMO_STORE_KEY, what="the store consumer key",
                                 env="STOREFLOW_STORE_KEY", **where)
        secret = profile.credential(settings.store_secret, demo=profile.DEMO_STORE_SECRET,
                                    what="the store consumer secret", env="STOREFLOW_STORE_SECRET", **where)
        return cls(base, key, secret, **kwargs)

    # --- base-client hooks -----------------------------------------------------------------------
    def prepare(self, method: str, url: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if self.query_string_auth:
            params = dict(kwargs.get("params") or {})
            params.update(consumer_key=self._key, consumer_secret=self._secret)
            kwargs["params"] = params
        return url, kwargs

    def error_message(self, response: requests.Response, body: Any) -> str:
        if isinstance(body, dict) and "code" in body:
            return f"HTTP {response.status_code} {body.get('code')}: {body.get('message', '')}"
        return f"HTTP {response.status_code}"

    def auth_failure_hint(self, response: requests.Response, body: Any) -> str:
        if self.auth_method in ("basic", "query") and not self.https:
            return (f"{self.auth_method} auth was sent over plain HTTP, which WooCommerce refuses; "
                    "use an https:// URL or auth='oauth1'")
        if self.auth_method == "oauth1":
            return ("auth: OAuth 1.0a over plain HTTP; check the key/secret, that the URL matches the site's "
                    "home URL and that this machine's clock is right")
        return f"auth: {self.auth_method} over HTTPS; check the consumer key/secret and its permissions"

    # --- low level -------------------------------------------------------------------------------
    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None) -> Any:
        """One API call under ``/wp-json/wc/v3``; returns the parsed JSON body."""
        kwargs: dict[str, Any] = {}
        if params:
            kwargs["params"] = params
        if json is not None:
            kwargs["json"] = json
        return self.request(method, f"{API_PREFIX}{path}", **kwargs).json_body

    @staticmethod
    def window_params(modified_after: datetime | None, modified_before: datetime | None) -> dict[str, str]:
        """``modified_after`` exclusive, ``modified_before`` made inclusive (+1 s; the store compares seconds)."""
        params: dict[str, str] = {}
        if modified_after is not None:
            params["modified_after"] = format_gmt(modified_after)
        if modified_before is not None:
            params["modified_before"] = format_gmt(modified_before.replace(microsecond=0) + timedelta(seconds=1))
        if params:
            params["dates_are_gmt"] = "true"
        return params

    def iter_pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Raw pages of a collection, sorted by id, drift-safe (see module docstring), de-duplicated by id."""
        per_page = self.per_page
        base = {**(params or {}), "orderby": "id", "order": "asc", "per_page": per_page}
        offset = 0
        last_id: int | None = None
        seen: set[int] = set()
        step_back = per_page - 1
        while True:
            response = self.request("GET", f"{API_PREFIX}{path}", params={**base, "offset": offset})
            rows = response.json_body
            if not isinstance(rows, list):
                raise ApiError(f"GET {path}: expected a JSON array, got {type(rows).__name__}")
            if offset > 0 and last_id is not None and (not rows or int(rows[0]["id"]) > last_id):
                # rows before our position left the result set: step back and re-read
                log.info("page drift on %s at offset %d; stepping back", path, offset)
                offset = max(0, offset - step_back)
                step_back *= 2
                continue
            step_back = per_page - 1
            fresh = [r for r in rows if int(r["id"]) not in seen]
            seen.update(int(r["id"]) for r in fresh)
            if fresh:
                yield fresh
            if len(rows) < per_page or offset + len(rows) >= _int(response.headers.get("X-WP-Total"), 1 << 62):
                return  # the end of the live result set: a short page, or X-WP-Total reached
            last_id = max(int(r["id"]) for r in rows)
            offset += len(rows) - 1  # one row of overlap proves no row was skipped

    # --- products and variations -----------------------------------------------------------------
    def iter_products(self, modified_after: datetime | None = None, modified_before: datetime | None = None,
                      **filters: Any) -> Iterator[list[dict[str, Any]]]:
        """Raw product pages (all statuses but trash) changed inside the window."""
        return self.iter_pages("/products", {**filters, **self.window_params(modified_after, modified_before)})

    def iter_variations(self, parent_id: int) -> Iterator[list[dict[str, Any]]]:
        """Raw variation pages of one variable product, tagged with ``type``/``parent_id``."""
        for page in self.iter_pages(f"/products/{parent_id}/variations"):
            yield [{**row, "type": "variation", "parent_id": row.get("parent_id") or parent_id} for row in page]

    def iter_all_variations(self, modified_after: datetime | None = None,
                            modified_before: datetime | None = None) -> Iterator[list[dict[str, Any]]]:
        """Raw pages of ``GET /variations`` (WooCommerce 10.3+); raises :class:`ApiError` 404 on older stores."""
        for page in self.iter_pages("/variations", self.window_params(modified_after, modified_before)):
            yield [{**row, "type": "variation"} for row in page]

    def has_variations_route(self) -> bool | None:
        """Whether ``GET /variations`` exists (WooCommerce 10.3+); ``None`` until first used or probed."""
        return self._variations_route

    def probe_variations_route(self) -> bool:
        """Ask the store once whether ``GET /variations`` exists (one request; cached on the client)."""
        if self._variations_route is None:
            try:
                self.call("GET", "/variations", params={"per_page": 1})
                self._variations_route = True
            except ApiError as exc:
                if exc.status != 404:
                    raise
                self._variations_route = False
        return self._variations_route

    def iter_catalog(self, modified_after: datetime | None = None,
                     modified_before: datetime | None = None) -> Iterator[list[dict[str, Any]]]:
        """Raw pages of products changed inside the window, then of their variations (tagged).

        With ``GET /variations`` (10.3+): the variations changed inside the window. Without it (404
        ``rest_no_route``, remembered on the client): the variations of the variable parents read in the
        window (every parent on a full scan, ``modified_after=None``). On stores whose variation changes
        do not move the parent (before 10.x), stock-only variation changes need a full scan.
        """
        variable: list[int] = []
        for page in self.iter_products(modified_after, modified_before):
            variable.extend(int(r["id"]) for r in page if r.get("type") == "variable")
            yield page
        if self._variations_route is not False:
            started = False
            try:
                for page in self.iter_all_variations(modified_after, modified_before):
                    started = True
                    yield page
                self._variations_route = True
                return
            except ApiError as exc:
                if started or self._variations_route or exc.status != 404:
                    raise
                log.info("%s has no GET /variations (WooCommerce < 10.3): reading %d changed parents",
                         self.describe(), len(variable))
                self._variations_route = False
        for parent_id in variable:
            yield from self.iter_variations(parent_id)

    def list_products(self, modified_after: datetime | None = None,
                      modified_before: datetime | None = None) -> list[Product]:
        """Typed products changed inside the window (variable parents included, variations not)."""
        return [Product.model_validate(r) for page in self.iter_products(modified_after, modified_before)
                for r in page]

    def find_by_skus(self, skus: Iterable[str]) -> dict[str, Product]:
        """SKU -> product or variation (``sku=`` exact lookups, comma-joined, variations included)."""
        wanted = sorted({s for s in skus if s and "," not in s})
        found: dict[str, Product] = {}
        for chunk in chunked(wanted, SKU_CHUNK):
            for page in self.iter_pages("/products", {"sku": ",".join(chunk)}):
                for row in page:
                    product = Product.model_validate(row)
                    if product.sku in chunk:
                        found[product.sku] = product
        return found

    def _batch(self, path: str, action: str, items: list[Any]) -> BatchResult:
        result = BatchResult()
        for chunk in chunked(items, BATCH_LIMIT):
            body = self.call("POST", path, json={action: chunk}) or {}
            result.requests += 1
            for sent, got in zip(chunk, body.get(action, []), strict=False):
                if isinstance(got, dict) and "error" in got:
                    err = got["error"] or {}
                    data = dict(err.get("data") or {})
                    result.errors.append(BatchItemError(
                        action=action, id=got.get("id"), code=err.get("code", "unknown"),
                        message=err.get("message", ""), status=data.pop("status", None), data=data,
                        item=sent if isinstance(sent, dict) else {"id": sent},
                    ))
                else:
                    result.ok.append(got)
        return result

    def batch_update_products(self, updates: list[dict[str, Any]]) -> BatchResult:
        """``POST /products/batch`` updates (each with ``id``) in chunks of 100; per-item errors returned."""
        return self._batch("/products/batch", "update", updates)

    def batch_update_variations(self, parent_id: int, updates: list[dict[str, Any]]) -> BatchResult:
        """``POST /products/{parent}/variations/batch`` updates in chunks of 100."""
        return self._batch(f"/products/{parent_id}/variations/batch", "update", updates)

    def create_products(self, products: list[dict[str, Any]]) -> BatchResult:
        """Batch-create products; a duplicate SKU comes back as a ``product_invalid_sku`` error whose
        ``data["resource_id"]`` names the existing product (no idempotency keys in WooCommerce)."""
        return self._batch("/products/batch", "create", products)

    def create_variations(self, parent_id: int, variations: list[dict[str, Any]]) -> BatchResult:
        """Batch-create variations of a variable product."""
        return self._batch(f"/products/{parent_id}/variations/batch", "create", variations)

    # --- orders ----------------------------------------------------------------------------------
    def iter_orders(self, modified_after: datetime | None = None, modified_before: datetime | None = None,
                    status: str = "any") -> Iterator[list[dict[str, Any]]]:
        """Raw order pages changed inside the window."""
        return self.iter_pages("/orders", {"status": status, **self.window_params(modified_after, modified_before)})

    def list_orders(self, modified_after: datetime | None = None, modified_before: datetime | None = None,
                    status: str = "any") -> list[Order]:
        """Typed orders changed inside the window."""
        return [Order.model_validate(r) for page in self.iter_orders(modified_after, modified_before, status)
                for r in page]

    def get_order(self, order_id: int) -> Order:
        return Order.model_validate(self.call("GET", f"/orders/{order_id}"))

    def create_order(self, payload: dict[str, Any]) -> Order:
        return Order.model_validate(self.call("POST", "/orders", json=payload))

    def update_order(self, order_id: int, fields: dict[str, Any]) -> Order:
        return Order.model_validate(self.call("PUT", f"/orders/{order_id}", json=fields))

    # --- customers -------------------------------------------------------------------------------
    def iter_customers(self, role: str = "all") -> Iterator[list[dict[str, Any]]]:
        """Raw customer pages: always a full scan (the endpoint has no date filters, §1.10)."""
        return self.iter_pages("/customers", {"role": role})

    def list_customers(self, role: str = "all") -> list[Customer]:
        """Every customer (full scan), typed."""
        return [Customer.model_validate(r) for page in self.iter_customers(role) for r in page]

    def find_customer_by_email(self, email: str) -> Customer | None:
        """Exact, case-insensitive email lookup."""
        rows = self.call("GET", "/customers", params={"email": email, "role": "all"}) or []
        return Customer.model_validate(rows[0]) if rows else None

    def update_customer(self, customer_id: int, fields: dict[str, Any]) -> Customer:
        """``PUT /customers/{id}`` with the given fields (e.g. ``email``, ``billing``, ``meta_data``)."""
        return Customer.model_validate(self.call("PUT", f"/customers/{customer_id}", json=fields))

    def get_customer(self, customer_id: int) -> Customer:
        return Customer.model_validate(self.call("GET", f"/customers/{customer_id}"))

    def set_customer_consent(self, customer_id: int, channel: str, optout: bool, changed_at: datetime) -> Customer:
        """Record an explicit marketing choice in customer meta and read it back (see
        :meth:`set_customer_consents`)."""
        return self.set_customer_consents(customer_id, {channel: optout}, changed_at)

    def set_customer_consents(self, customer_id: int, choices: dict[str, bool], changed_at: datetime,
                              fields: dict[str, Any] | None = None) -> Customer:
        """Write consent choices (channel -> opted out?) as customer meta, with optional other ``fields`` in the
        same ``PUT``, then verify them in the response **and** in a fresh ``GET``.

        Raises :class:`ConsentNotStored` when either read does not show every choice under
        :data:`~storeflow.connectors.woocommerce_models.CONSENT_META` (real WooCommerce answers 200 and
        drops protected ``_`` meta). Returns the customer as read back."""
        unknown = set(choices) - set(CONSENT_META)
        if unknown:
            raise ValueError(f"unknown consent channels: {sorted(unknown)}")
        body = {**(fields or {}), "meta_data": [consent_meta(ch, out, changed_at) for ch, out in choices.items()]}
        written = self.update_customer(customer_id, body)
        self._check_consents(written, choices, "PUT response")
        current = self.get_customer(customer_id)
        self._check_consents(current, choices, "GET after PUT")
        return current

    @staticmethod
    def _check_consents(customer: Customer, choices: dict[str, bool], where: str) -> None:
        missing = [ch for ch, out in choices.items() if (customer.stored_consent(ch) or (None,))[0] is not out]
        if missing:
            keys = ", ".join(CONSENT_META[ch] for ch in missing)
            raise ConsentNotStored(f"customer {customer.id}: consent meta {keys} not stored ({where} does not "
                                   "show the written choice)")

    def create_customer(self, fields: dict[str, Any]) -> Customer:
        return Customer.model_validate(self.call("POST", "/customers", json=fields))
