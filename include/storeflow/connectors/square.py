"""Square (POS) connector: a :class:`JsonApiClient` with Square auth, errors, paginators and batch writers.

Works against the real Square API and the local simulator alike: bearer token, pinned
``Square-Version``, cursor pagination (keep paging until no cursor; empty pages with a cursor are
tolerated; a repeated cursor fails loudly), retries from the base client (429 with ``Retry-After``,
5xx, timeouts, bad JSON). Writes carry deterministic idempotency keys derived from the *logical*
content (never from timestamps), so a retry after a crash reuses the key:

* :meth:`SquareClient.batch_change_inventory` sends ≤100 changes per call; the key hashes each change's
  identity (object, location, states, quantity, reference) without ``occurred_at``. A retry with the
  same body replays Square's stored response; a retry whose body differs only by a fresh ``occurred_at``
  gets ``IDEMPOTENCY_KEY_REUSED``, which means *already applied* and is reported as such.
* :meth:`SquareClient.batch_upsert_catalog` re-reads versions and re-applies on a stale version.

Stale versions: Square's guides name ``VERSION_MISMATCH``, but its OpenAPI spec lists only ``CONFLICT``
for catalog upsert, UpdateCustomer, UpdateOrder and PublishInvoice (``VERSION_MISMATCH`` is not in the
spec's ``ErrorCode`` enum). Both are treated as a stale version (:data:`STALE_VERSION_CODES`).

Paginators yield raw pages: lists of JSON objects exactly as the API returned them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, cast, overload

import requests

from storeflow import profile
from storeflow.connectors.http import ApiError, JsonApiClient
from storeflow.connectors.square_models import (
    Customer,
    Location,
    format_square_ts,
    parse_square_ts,
)
from storeflow.contracts.square_note import note_opt_outs, set_note_opt_out
from storeflow.settings import get_settings
from storeflow.warehouse.chunks import chunked

log = logging.getLogger(__name__)

SQUARE_VERSION = "2025-08-20"
INVENTORY_BATCH = 100
CATALOG_BATCH = 1000
ORDERS_LOCATION_CHUNK = 10
DEFAULT_CATALOG_TYPES = ("ITEM", "ITEM_VARIATION", "CATEGORY")
#: error codes that mean "your version is stale": re-read and retry
STALE_VERSION_CODES = frozenset({"VERSION_MISMATCH", "CONFLICT"})
#: Square's maxLength of ``idempotency_key`` for CreatePayment and CreateCustomer
SHORT_KEY_MAX = 45


def error_codes(exc: BaseException) -> list[str]:
    """Square error codes carried by an :class:`ApiError` (empty when the body had none)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        return [str(e.get("code")) for e in body.get("errors") or [] if isinstance(e, dict)]
    return []


def is_stale_version(exc: BaseException) -> bool:
    """True when an :class:`ApiError` says the sent ``version`` is stale (``VERSION_MISMATCH`` or ``CONFLICT``)."""
    return bool(STALE_VERSION_CODES & set(error_codes(exc)))


def fit_key(key: str, max_len: int) -> str:
    """``key`` if it fits the endpoint's ``idempotency_key`` limit, else a deterministic shorter form
    (a prefix of it plus a hash of all of it), so a retry still sends the same key."""
    if len(key) <= max_len:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[:max_len - 17]}-{digest}"


#: read-only fields of catalog objects (Square's spec): never sent back in an upsert
_CATALOG_READ_ONLY = {"": ("updated_at", "created_at"), "item_data": ("description_plaintext",),
                      "item_variation_data": ("ordinal",), "category_data": ("root_category",)}
_CUSTOM_VALUE_READ_ONLY = ("type", "key", "custom_attribute_definition_id")


def writable_catalog_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a catalog object as read from Square, without its read-only fields (``updated_at``,
    variations' ``ordinal``, custom attribute values' ``type``/``key``, …), nested ITEM_VARIATIONs
    included: what an upsert may send."""
    out = json.loads(json.dumps(obj))
    for data_key, names in _CATALOG_READ_ONLY.items():
        target = out if not data_key else out.get(data_key)
        if isinstance(target, dict):
            for name in names:
                target.pop(name, None)
    for value in (out.get("custom_attribute_values") or {}).values():
        if isinstance(value, dict):
            for name in _CUSTOM_VALUE_READ_ONLY:
                value.pop(name, None)
    variations = (out.get("item_data") or {}).get("variations")
    if isinstance(variations, list):
        out["item_data"]["variations"] = [writable_catalog_object(v) if isinstance(v, dict) else v
                                          for v in variations]
    return out


def _hash(data: Any, n: int = 40) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()[:n]


@overload
def _ts(value: datetime | str) -> str: ...
@overload
def _ts(value: None) -> None: ...
def _ts(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        # a non-empty string parses or raises; "" (None) fails in format_square_ts, as it always did
        return format_square_ts(cast(datetime, parse_square_ts(value)))
    return format_square_ts(value)


def _batch_retrieve_body(limit: int, updated_after: datetime | None, **filters: Sequence[str] | None
                         ) -> dict[str, Any]:
    """A BatchRetrieveInventory* body: ``limit``, ``updated_after`` (if given) and the non-empty list filters."""
    body: dict[str, Any] = {"limit": limit}
    if updated_after is not None:
        body["updated_after"] = _ts(updated_after)
    body.update({name: list(values) for name, values in filters.items() if values})
    return body


def inventory_change_identity(change: dict[str, Any]) -> dict[str, Any]:
    """The logical content of an InventoryChange (what it does, not when it was sent)."""
    body = change.get("physical_count") or change.get("adjustment") or {}
    keep = ("catalog_object_id", "location_id", "state", "from_state", "to_state", "quantity", "reference_id")
    return {"type": change.get("type"), **{k: body.get(k) for k in keep if body.get(k) is not None}}


class SquareClient(JsonApiClient):
    """Client for the Square Connect v2 API (or the storeflow POS simulator)."""

    def __init__(self, base_url: str, token: str, *, square_version: str = SQUARE_VERSION, **kwargs: Any):
        super().__init__(base_url, **kwargs)
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers["Square-Version"] = square_version
        self.session.headers["Accept"] = "application/json"
        self.last_latest_time: datetime | None = None

    @classmethod
    def from_settings(cls, **kwargs: Any) -> SquareClient:
        """A client for ``STOREFLOW_POS_URL`` / ``STOREFLOW_POS_TOKEN``; the simulator and its demo token only
        in the demo profile (else :class:`storeflow.profile.MissingCredential` naming ``storeflow_pos``)."""
        settings = get_settings()
        where = {"conn_id": kwargs.get("conn_id") or "storeflow_pos"}
        base_url = profile.address(settings.pos_url, what="the POS URL", env="STOREFLOW_POS_URL", **where)
        token = profile.credential(settings.pos_token, demo=profile.DEMO_POS_TOKEN, what="the POS access token",
                                   env="STOREFLOW_POS_TOKEN", **where)
        return cls(base_url, token, **kwargs)

    def error_message(self, response: requests.Response, body: Any) -> str:
        """``HTTP 400 VERSION_MISMATCH: detail; …`` (Square details never contain credentials)."""
        parts = []
        if isinstance(body, dict):
            for err in body.get("errors") or []:
                if isinstance(err, dict):
                    text = f"{err.get('code')}: {err.get('detail', '')}".strip()
                    if err.get("field"):
                        text += f" (field {err['field']})"
                    parts.append(text)
        return f"HTTP {response.status_code}" + (f" {'; '.join(parts)}" if parts else "")

    # --- plumbing ---------------------------------------------------------------------------------
    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", path, params=params).json_body

    def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", path, json=body).json_body

    def put_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", path, json=body).json_body

    def iter_responses(
        self, method: str, path: str, *, body: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
        max_pages: int = 1_000_000,
    ) -> Iterator[dict[str, Any]]:
        """Every response of a cursor chain (same body/params, plus ``cursor``)."""
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(max_pages):
            if method == "GET":
                q = dict(params or {})
                if cursor:
                    q["cursor"] = cursor
                data = self.get_json(path, q)
            else:
                b = dict(body or {})
                if cursor:
                    b["cursor"] = cursor
                data = self.post_json(path, b)
            yield data
            cursor = data.get("cursor")
            if not cursor:
                return
            if cursor in seen:
                raise ApiError(f"{method} {path}: the server repeated a cursor; stopping to avoid a loop")
            seen.add(cursor)
        raise ApiError(f"{method} {path}: more than {max_pages} pages")

    def iter_pages(self, method: str, path: str, key: str, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        """Raw pages (the list under ``key``); empty pages that carry a cursor are skipped over."""
        for data in self.iter_responses(method, path, **kwargs):
            items = data.get(key) or []
            if items:
                yield items

    # --- locations ---------------------------------------------------------------------------------
    def list_locations_raw(self) -> list[dict[str, Any]]:
        return self.get_json("/v2/locations").get("locations") or []

    def list_locations(self) -> list[Location]:
        return [Location.model_validate(x) for x in self.list_locations_raw()]

    # --- catalog -----------------------------------------------------------------------------------
    def list_catalog(self, types: Sequence[str] = ("ITEM", "CATEGORY")) -> Iterator[list[dict[str, Any]]]:
        """ListCatalog pages (deleted objects are never listed)."""
        return self.iter_pages("GET", "/v2/catalog/list", "objects", params={"types": ",".join(types)})

    def search_catalog(
        self,
        begin_time: datetime | None = None,
        include_deleted: bool = True,
        *,
        object_types: Sequence[str] = DEFAULT_CATALOG_TYPES,
        include_related: bool = True,
        limit: int = 1000,
        query: dict[str, Any] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """SearchCatalogObjects pages changed after ``begin_time`` (exclusive), tombstones included.

        Each page is the response's ``objects`` followed by its ``related_objects`` (parent items of
        variations, categories of items). ``self.last_latest_time`` holds the server's ``latest_time``.
        """
        body: dict[str, Any] = {
            "object_types": list(object_types),
            "include_deleted_objects": include_deleted,
            "include_related_objects": include_related,
            "limit": limit,
        }
        if begin_time is not None:
            body["begin_time"] = _ts(begin_time)
        if query:
            body["query"] = query
        self.last_latest_time = None
        for data in self.iter_responses("POST", "/v2/catalog/search", body=body):
            if data.get("latest_time") and self.last_latest_time is None:
                self.last_latest_time = parse_square_ts(data["latest_time"])
            page = list(data.get("objects") or []) + list(data.get("related_objects") or [])
            if page:
                yield page

    def batch_retrieve_catalog(self, object_ids: Sequence[str], include_related: bool = False) -> list[dict]:
        out: list[dict[str, Any]] = []
        ids = list(dict.fromkeys(object_ids))
        for chunk in chunked(ids, 1000):
            data = self.post_json("/v2/catalog/batch-retrieve", {
                "object_ids": chunk, "include_related_objects": include_related,
            })
            out += data.get("objects") or []
        return out

    def batch_upsert_catalog(
        self, objects: Sequence[dict[str, Any]], *, key_prefix: str = "storeflow-catalog", max_conflicts: int = 3,
    ) -> list[dict[str, Any]]:
        """Upsert objects in batches of ≤1000 (one atomic batch per request); return the responses.

        On a stale version (``VERSION_MISMATCH`` or ``CONFLICT``) the batch's existing objects are re-read
        and their current versions
        (ITEM and nested ITEM_VARIATIONs) re-applied to our payload, then the batch is sent again.
        """
        results = []
        for batch in chunked(objects, CATALOG_BATCH):
            chunk = [writable_catalog_object(o) for o in batch]
            for attempt in range(max_conflicts + 1):
                key = f"{key_prefix}-{_hash(chunk)}"
                try:
                    results.append(self.post_json("/v2/catalog/batch-upsert", {
                        "idempotency_key": key[:128], "batches": [{"objects": chunk}],
                    }))
                    break
                except ApiError as exc:
                    if not is_stale_version(exc) or attempt == max_conflicts:
                        raise
                    log.info("catalog %s; re-reading %d objects and retrying", error_codes(exc), len(chunk))
                    self._refresh_versions(chunk)
        return results

    def _refresh_versions(self, chunk: list[dict[str, Any]]) -> None:
        ids: list[str] = []
        for obj in chunk:
            if not str(obj.get("id", "")).startswith("#"):
                ids.append(obj["id"])
            for var in (obj.get("item_data") or {}).get("variations") or []:
                if not str(var.get("id", "")).startswith("#"):
                    ids.append(var["id"])
        current: dict[str, int | None] = {}
        for obj in self.batch_retrieve_catalog(ids):
            current[obj["id"]] = obj.get("version")
            for var in (obj.get("item_data") or {}).get("variations") or []:
                current[var["id"]] = var.get("version")
        for obj in chunk:
            if obj.get("id") in current:
                obj["version"] = current[obj["id"]]
            for var in (obj.get("item_data") or {}).get("variations") or []:
                if var.get("id") in current:
                    var["version"] = current[var["id"]]

    def delete_catalog_objects(self, object_ids: Sequence[str]) -> list[str]:
        deleted: list[str] = []
        for chunk in chunked(object_ids, 200):
            data = self.post_json("/v2/catalog/batch-delete", {"object_ids": chunk})
            deleted += data.get("deleted_object_ids") or []
        return deleted

    # --- inventory ---------------------------------------------------------------------------------
    def retrieve_inventory_counts(
        self,
        updated_after: datetime | None = None,
        location_ids: Sequence[str] | None = None,
        *,
        catalog_object_ids: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> Iterator[list[dict[str, Any]]]:
        """BatchRetrieveInventoryCounts pages (``updated_after`` is exclusive, on ``calculated_at``)."""
        body = _batch_retrieve_body(limit, updated_after, location_ids=location_ids,
                                    catalog_object_ids=catalog_object_ids, states=states)
        return self.iter_pages("POST", "/v2/inventory/counts/batch-retrieve", "counts", body=body)

    def batch_change_inventory(
        self,
        changes: Sequence[dict[str, Any]],
        key_prefix: str,
        *,
        ignore_unchanged_counts: bool = True,
        batch_size: int = INVENTORY_BATCH,
    ) -> list[dict[str, Any]]:
        """BatchChangeInventory in chunks of ≤100 with content-derived idempotency keys.

        Returns one result per chunk: the response body plus ``idempotency_key`` and
        ``already_applied`` (True when Square answered ``IDEMPOTENCY_KEY_REUSED``: the same logical
        chunk was applied before, with a different ``occurred_at``).

        ``key_prefix`` must name the logical operation: e.g. the store order id + line id for a sale,
        or the sync run for a physical count. Two *intended* identical writes (the same count set again
        a week later) need different prefixes or reference ids, or the second is taken for a retry.
        """
        results = []
        for chunk in chunked(changes, batch_size):
            identity = [inventory_change_identity(c) for c in chunk]
            key = f"{key_prefix}-{_hash([identity, ignore_unchanged_counts])}"[:128]
            body = {"idempotency_key": key, "changes": chunk, "ignore_unchanged_counts": ignore_unchanged_counts}
            try:
                data = self.post_json("/v2/inventory/changes/batch-create", body)
                data = {**data, "idempotency_key": key, "already_applied": False}
            except ApiError as exc:
                if "IDEMPOTENCY_KEY_REUSED" not in error_codes(exc):
                    raise
                log.info("inventory chunk %s was applied before (IDEMPOTENCY_KEY_REUSED)", key)
                data = {"counts": [], "changes": [], "idempotency_key": key, "already_applied": True}
            results.append(data)
        return results

    def inventory_changes(
        self,
        reference_ids: Iterable[str] | None = None,
        updated_after: datetime | None = None,
        *,
        catalog_object_ids: Sequence[str] | None = None,
        location_ids: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> Iterator[list[dict[str, Any]]]:
        """Inventory history pages (BatchRetrieveInventoryChanges), filtered to ``reference_ids`` if given.

        Square cannot filter on ``reference_id``; narrow the scan with ``updated_after`` /
        ``catalog_object_ids`` and the filter is applied client-side.
        """
        body = _batch_retrieve_body(limit, updated_after, catalog_object_ids=catalog_object_ids,
                                    location_ids=location_ids, types=types)
        wanted = set(reference_ids) if reference_ids is not None else None
        for page in self.iter_pages("POST", "/v2/inventory/changes/batch-retrieve", "changes", body=body):
            if wanted is not None:
                page = [
                    c for c in page
                    if (c.get("adjustment") or c.get("physical_count") or {}).get("reference_id") in wanted
                ]
            if page:
                yield page

    # --- orders ------------------------------------------------------------------------------------
    def search_orders(
        self,
        location_ids: Sequence[str],
        updated_start: datetime | None = None,
        updated_end: datetime | None = None,
        *,
        states: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> Iterator[list[dict[str, Any]]]:
        """SearchOrders pages by ``updated_at`` (inclusive range), ≤10 locations per chain, UPDATED_AT ASC."""
        for locs in chunked(location_ids, ORDERS_LOCATION_CHUNK):
            rng: dict[str, str] = {}
            if updated_start is not None:
                rng["start_at"] = _ts(updated_start)
            if updated_end is not None:
                rng["end_at"] = _ts(updated_end)
            flt: dict[str, Any] = {"date_time_filter": {"updated_at": rng}} if rng else {}
            if states:
                flt["state_filter"] = {"states": list(states)}
            body = {
                "location_ids": locs,
                "query": {"filter": flt, "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}},
                "limit": limit,
            }
            yield from self.iter_pages("POST", "/v2/orders/search", "orders", body=body)

    def batch_retrieve_orders(self, order_ids: Sequence[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chunk in chunked(order_ids, 100):
            out += self.post_json("/v2/orders/batch-retrieve", {"order_ids": chunk}).get("orders") or []
        return out

    def get_order(self, order_id: str) -> dict[str, Any]:
        return self.get_json(f"/v2/orders/{order_id}")["order"]

    def create_order(self, order: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """CreateOrder; the same key and body return the original order."""
        return self.post_json("/v2/orders", {"order": order, "idempotency_key": idempotency_key})["order"]

    def update_order(self, order_id: str, fields: dict[str, Any], version: int,
                     idempotency_key: str | None = None, *, location_id: str | None = None) -> dict[str, Any]:
        """Sparse UpdateOrder. The ``Order`` schema requires ``location_id``: taken from ``fields``, else
        ``location_id``, else read from the order (one GET)."""
        loc = fields.get("location_id") or location_id or self.get_order(order_id)["location_id"]
        body: dict[str, Any] = {"order": {**fields, "location_id": loc, "version": version}}
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        return self.put_json(f"/v2/orders/{order_id}", body)["order"]

    def pay_order_externally(self, order_id: str, amount_minor: int, currency: str, idempotency_key: str,
                             *, source: str = "storeflow online store", kind: str = "OTHER") -> dict[str, Any]:
        """Record an external payment for an OPEN order (CreatePayment ``source_id=EXTERNAL``).

        Paying the full amount due completes the order: this is how a paid online order becomes a
        COMPLETED receipt in the POS (CreateOrder only creates OPEN or DRAFT orders).
        """
        body = {
            "source_id": "EXTERNAL", "idempotency_key": fit_key(idempotency_key, SHORT_KEY_MAX), "order_id": order_id,
            "amount_money": {"amount": int(amount_minor), "currency": currency}, "autocomplete": True,
            "external_details": {"type": kind, "source": source},
        }
        return self.post_json("/v2/payments", body)["payment"]

    # --- customers ---------------------------------------------------------------------------------
    def list_customers(self, *, limit: int = 100, sort_field: str | None = None,
                       sort_order: str | None = None) -> Iterator[list[dict[str, Any]]]:
        params: dict[str, Any] = {"limit": limit}
        if sort_field:
            params["sort_field"] = sort_field
        if sort_order:
            params["sort_order"] = sort_order
        return self.iter_pages("GET", "/v2/customers", "customers", params=params)

    def search_customers(
        self,
        updated_start: datetime | None = None,
        updated_end: datetime | None = None,
        *,
        email: str | None = None,
        reference_id: str | None = None,
        limit: int = 100,
    ) -> Iterator[list[dict[str, Any]]]:
        """SearchCustomers pages (``updated_at`` range: start inclusive, end exclusive; sorted by CREATED_AT)."""
        flt: dict[str, Any] = {}
        if updated_start is not None or updated_end is not None:
            rng: dict[str, str] = {}
            if updated_start is not None:
                rng["start_at"] = _ts(updated_start)
            if updated_end is not None:
                rng["end_at"] = _ts(updated_end)
            flt["updated_at"] = rng
        if email:
            flt["email_address"] = {"exact": email}
        if reference_id:
            flt["reference_id"] = {"exact": reference_id}
        body: dict[str, Any] = {"limit": limit, "query": {"sort": {"field": "CREATED_AT", "order": "ASC"}}}
        if flt:
            body["query"]["filter"] = flt
        return self.iter_pages("POST", "/v2/customers/search", "customers", body=body)

    def retrieve_customer(self, customer_id: str) -> dict[str, Any]:
        return self.get_json(f"/v2/customers/{customer_id}")["customer"]

    def create_customer(self, fields: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """CreateCustomer (``preferences`` cannot be set through the API)."""
        key = fit_key(idempotency_key, SHORT_KEY_MAX)
        return self.post_json("/v2/customers", {**fields, "idempotency_key": key})["customer"]

    def update_customer(self, customer_id: str, fields: dict[str, Any], version: int | None = None) -> dict:
        """Sparse UpdateCustomer; ``None`` values remove fields; a stale ``version`` → CONFLICT / VERSION_MISMATCH."""
        body = dict(fields)
        if version is not None:
            body["version"] = version
        return self.put_json(f"/v2/customers/{customer_id}", body)["customer"]

    def set_opt_out(self, customer_id: str, channel: str, opted_out: bool) -> dict[str, Any]:
        """Record an email/SMS opt-out (or opt-in) in the customer's note (see :mod:`storeflow.contracts.square_note`);
        re-reads and retries on a stale version (VERSION_MISMATCH or CONFLICT)."""
        for attempt in range(3):
            current = Customer.model_validate(self.retrieve_customer(customer_id))
            if note_opt_outs(current.note).get(channel) is opted_out:
                return self.retrieve_customer(customer_id)
            note = set_note_opt_out(current.note, channel, opted_out)
            try:
                return self.update_customer(customer_id, {"note": note}, version=current.version)
            except ApiError as exc:
                if not is_stale_version(exc) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # --- invoices ----------------------------------------------------------------------------------
    def create_invoice(self, invoice: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        return self.post_json("/v2/invoices", {"invoice": invoice, "idempotency_key": idempotency_key})["invoice"]

    def publish_invoice(self, invoice_id: str, version: int, idempotency_key: str) -> dict[str, Any]:
        return self.post_json(f"/v2/invoices/{invoice_id}/publish",
                              {"version": version, "idempotency_key": idempotency_key})["invoice"]

    def get_invoice(self, invoice_id: str) -> dict[str, Any]:
        return self.get_json(f"/v2/invoices/{invoice_id}")["invoice"]

    def list_invoices(self, location_id: str, *, limit: int = 200) -> Iterator[list[dict[str, Any]]]:
        return self.iter_pages("GET", "/v2/invoices", "invoices", params={"location_id": location_id, "limit": limit})

    def search_invoices(self, location_id: str, customer_id: str | None = None, *,
                        limit: int = 200) -> Iterator[list[dict[str, Any]]]:
        flt: dict[str, Any] = {"location_ids": [location_id]}
        if customer_id:
            flt["customer_ids"] = [customer_id]
        body = {"query": {"filter": flt, "sort": {"field": "INVOICE_SORT_DATE", "order": "ASC"}}, "limit": limit}
        return self.iter_pages("POST", "/v2/invoices/search", "invoices", body=body)
