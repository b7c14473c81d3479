"""Catalog API of the POS simulator (ListCatalog, SearchCatalogObjects, upserts, retrieves, deletes).

Semantics follow the contract notes (§2.7): ListCatalog pages of 100 and hides deleted objects;
SearchCatalogObjects has an exclusive ``begin_time``, returns ``latest_time``, tombstones only with
``include_deleted_objects``, ignores an out-of-range ``limit``; batch upserts are atomic per batch,
map ``#temp`` ids, check ``version`` (also when it is omitted on an update: ``CONFLICT``, see
``PosConfig.stale_version_code``) and
reject updates of unknown ids with 400. Deleting an ITEM cascades to its variations.

Simplification: upserting an ITEM whose ``variations`` list omits an existing variation keeps that
variation (Square's exact behaviour there is not pinned down); delete it explicitly instead.
"""

from __future__ import annotations

import copy
import threading
import time
from contextlib import contextmanager
from typing import Any

from storeflow_simulators.pos_common import (
    SquareError,
    bad_request,
    body_hash,
    decode_cursor,
    found,
    id_list,
    keyset_page,
    listify,
    new_id,
    not_found,
    parse_ts,
    parse_ts_field,
    sort_key_ts,
)
from storeflow_simulators.pos_state import PosState

_LOCAL = threading.local()
NESTED_TYPES = {"ITEM_VARIATION", "MODIFIER", "ITEM_OPTION_VAL"}
LIST_PAGE_SIZE = 100
SEARCH_DEFAULT_LIMIT = 100
SEARCH_MAX_LIMIT = 1000
DATA_FIELD = {
    "ITEM": "item_data",
    "ITEM_VARIATION": "item_variation_data",
    "CATEGORY": "category_data",
    "TAX": "tax_data",
    "DISCOUNT": "discount_data",
    "MODIFIER_LIST": "modifier_list_data",
    "MODIFIER": "modifier_data",
    "IMAGE": "image_data",
}


@contextmanager
def catalog_write(state: PosState):
    """Serialise catalog writes per seller; a concurrent writer gets 429 when the lock is enabled."""
    if not state.config.catalog_write_lock:
        yield
        return
    if not state.catalog_write_lock.acquire(blocking=False):
        raise SquareError(
            429, "RATE_LIMITED", "Another catalog update is in progress for this seller.",
            category="RATE_LIMIT_ERROR",
        )
    depth = getattr(_LOCAL, "depth", 0)
    _LOCAL.depth = depth + 1
    try:
        if depth == 0 and state.config.catalog_write_hold_seconds:
            time.sleep(state.config.catalog_write_hold_seconds)
        yield
    finally:
        _LOCAL.depth = depth
        state.catalog_write_lock.release()


# --- reads ----------------------------------------------------------------------------------------
def list_catalog(state: PosState, types: str | None, cursor: str | None) -> dict[str, Any]:
    """GET /v2/catalog/list."""
    wanted = {t.strip().upper() for t in types.split(",") if t.strip()} if types else None
    request_hash = body_hash({"types": sorted(wanted) if wanted else None})
    cursor_data = decode_cursor(cursor, request_hash) if cursor else None
    with state.lock:
        items = []
        for obj in state.catalog.values():
            if obj.get("is_deleted"):
                continue
            if wanted is None and obj["type"] in NESTED_TYPES:
                continue
            if wanted is not None and obj["type"] not in wanted:
                continue
            items.append(((obj["id"],), obj))
        page, next_cursor = keyset_page(items, LIST_PAGE_SIZE, cursor_data, request_hash)
        out: dict[str, Any] = {"objects": [state.render_object(o) for o in page]}
    if next_cursor:
        out["cursor"] = next_cursor
    return out


def _names_of(state: PosState, obj: dict[str, Any]) -> dict[str, str]:
    """Searchable attribute values of an object (lower-cased)."""
    data = obj.get(DATA_FIELD.get(obj["type"], ""), {}) or {}
    attrs: dict[str, str] = {}
    if data.get("name"):
        attrs["name"] = str(data["name"]).lower()
    if obj["type"] == "ITEM_VARIATION":
        if data.get("sku"):
            attrs["sku"] = str(data["sku"]).lower()
        if data.get("upc"):
            attrs["upc"] = str(data["upc"]).lower()
    if data.get("description"):
        attrs["description"] = str(data["description"]).lower()
    return attrs


def _matches(state: PosState, obj: dict[str, Any], query: dict[str, Any]) -> bool:
    attrs = _names_of(state, obj)
    for kind, spec in query.items():
        if spec is None:
            continue
        if kind == "exact_query":
            value = attrs.get(spec.get("attribute_name", ""))
            if value is None or value != str(spec.get("attribute_value", "")).lower():
                return False
        elif kind == "prefix_query":
            value = attrs.get(spec.get("attribute_name", ""))
            if value is None or not value.startswith(str(spec.get("attribute_prefix", "")).lower()):
                return False
        elif kind == "set_query":
            value = attrs.get(spec.get("attribute_name", ""))
            if value is None or value not in {str(v).lower() for v in spec.get("attribute_values", [])}:
                return False
        elif kind == "text_query":
            keywords = [str(k).lower() for k in spec.get("keywords", [])]
            if not 1 <= len(keywords) <= 3:
                raise bad_request("INVALID_VALUE", "text_query needs 1 to 3 keywords.", "query.text_query.keywords")
            words = " ".join(attrs.values()).replace("-", " ").split()
            if not all(any(w.startswith(k) for w in words) for k in keywords):
                return False
        elif kind == "sorted_attribute_query":
            continue  # ordering is handled by the caller
        else:
            raise bad_request("BAD_REQUEST", f"The simulator does not support {kind}.", f"query.{kind}")
    return True


def _related(state: PosState, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One level of related objects: an ITEM's categories, a variation's parent ITEM."""
    seen = {o["id"] for o in page}
    related: list[dict[str, Any]] = []
    for obj in page:
        ids: list[str] = []
        if obj["type"] == "ITEM":
            data = obj.get("item_data", {})
            ids += [c.get("id") for c in data.get("categories", []) or [] if isinstance(c, dict)]
            if data.get("reporting_category", {}).get("id"):
                ids.append(data["reporting_category"]["id"])
            ids += list(data.get("tax_ids", []) or [])
        elif obj["type"] == "ITEM_VARIATION":
            ids.append(obj.get("item_variation_data", {}).get("item_id"))
        for rid in ids:
            if rid and rid not in seen and rid in state.catalog:
                seen.add(rid)
                related.append(state.render_object(state.catalog[rid]))
    return related


def search_catalog(state: PosState, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v2/catalog/search."""
    request_hash = body_hash(body)
    cursor_data = decode_cursor(body["cursor"], request_hash) if body.get("cursor") else None
    types = {t.upper() for t in listify(body.get("object_types"))} or None
    include_deleted = bool(body.get("include_deleted_objects"))
    begin = parse_ts_field(body["begin_time"], "begin_time") if body.get("begin_time") else None
    query = body.get("query") or {}
    limit = body.get("limit")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= SEARCH_MAX_LIMIT:
        limit = SEARCH_DEFAULT_LIMIT  # out-of-range limits are ignored, as Square does
    with state.lock:
        latest = state.stamp(digits=6)
        items = []
        for obj in state.catalog.values():
            if types is not None and obj["type"] not in types:
                continue
            if types is None and obj["type"] in NESTED_TYPES:
                continue  # unspecified object_types = the top-level types only
            if obj.get("is_deleted") and not include_deleted:
                continue
            if begin is not None and not parse_ts(obj["updated_at"]) > begin:
                continue
            if query and not _matches(state, obj, query):
                continue
            items.append(((sort_key_ts(obj["updated_at"]), obj["id"]), obj))
        page, next_cursor = keyset_page(items, limit, cursor_data, request_hash)
        rendered = [state.render_object(o, include_deleted_variations=include_deleted) for o in page]
        out: dict[str, Any] = {"objects": rendered, "latest_time": latest}
        if body.get("include_related_objects"):
            out["related_objects"] = _related(state, page)
    if next_cursor:
        out["cursor"] = next_cursor
    return out


def batch_retrieve(state: PosState, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v2/catalog/batch-retrieve."""
    ids = id_list(body, "object_ids", 1000)
    with state.lock:
        objs = [state.catalog[i] for i in ids if i in state.catalog]
        out: dict[str, Any] = {"objects": [state.render_object(o, include_deleted_variations=True) for o in objs]}
        if body.get("include_related_objects"):
            out["related_objects"] = _related(state, objs)
    return out


def retrieve_object(state: PosState, object_id: str) -> dict[str, Any]:
    """GET /v2/catalog/object/{id}."""
    with state.lock:
        obj = found(state.catalog, "catalog object", object_id)
        return {"object": state.render_object(obj)}


# --- writes ---------------------------------------------------------------------------------------
class _Batch:
    """Stages one atomic batch of upserts; nothing touches the state until :meth:`commit`."""

    def __init__(self, state: PosState, id_map: dict[str, str], stamp: str):
        self.state = state
        self.id_map = id_map  # "#client" -> real id (shared across batches of one request)
        self.stamp = stamp
        self.staged: dict[str, dict[str, Any]] = {}
        self.new_variations: dict[str, list[str]] = {}
        self.mappings: list[dict[str, str]] = []

    def preassign(self, objs: list[Any]) -> None:
        """Give every ``#temp`` id of the batch (nested variations included) its real id up front."""
        for obj in objs:
            if not isinstance(obj, dict):
                continue
            object_id = obj.get("id")
            if isinstance(object_id, str) and object_id.startswith("#") and object_id not in self.id_map:
                self.id_map[object_id] = new_id()
                self.mappings.append({"client_object_id": object_id, "object_id": self.id_map[object_id]})
            if obj.get("type") == "ITEM":
                self.preassign(listify((obj.get("item_data") or {}).get("variations")))

    def resolve(self, ref: str | None) -> str | None:
        if ref and ref.startswith("#"):
            return self.id_map.get(ref, ref)
        return ref

    def _assign(self, obj: dict[str, Any], field: str) -> tuple[str, dict[str, Any] | None]:
        object_id = obj.get("id")
        if not isinstance(object_id, str) or not object_id:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Every catalog object needs an id.", f"{field}.id")
        if object_id.startswith("#"):
            if object_id not in self.id_map:
                self.id_map[object_id] = new_id()
                self.mappings.append({"client_object_id": object_id, "object_id": self.id_map[object_id]})
            return self.id_map[object_id], None
        current = self.state.catalog.get(object_id)
        if current is None or current.get("is_deleted"):
            raise bad_request("INVALID_VALUE", f"Received request to update nonexistent object {object_id}.",
                              f"{field}.id")
        version = obj.get("version")
        if version is None or int(version) != int(current["version"]):
            raise SquareError(self.state.config.version_mismatch_status, self.state.config.stale_version_code,
                              "Object version does not match latest database version.", field=f"{field}.version")
        return object_id, current

    def _base(self, obj: dict[str, Any], object_id: str, current: dict[str, Any] | None) -> dict[str, Any]:
        if obj.get("is_deleted"):
            raise bad_request("INVALID_VALUE", "is_deleted cannot be set on upsert.", "is_deleted")
        kind = obj.get("type")
        if kind not in DATA_FIELD:
            raise bad_request("INVALID_ENUM_VALUE", f"Unsupported catalog object type {kind!r}.", "type")
        if current is not None and current["type"] != kind:
            raise bad_request("INVALID_VALUE", f"Object {object_id} has type {current['type']}.", "type")
        out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in {"updated_at", "version", "created_at"}}
        out["id"] = object_id
        out["is_deleted"] = False
        out["updated_at"] = self.stamp
        out["version"] = self.state.version_for(self.stamp, current["version"] if current else None)
        out.setdefault("present_at_all_locations", True)
        _fill_custom_values(out)
        return out

    def add(self, obj: dict[str, Any], field: str) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise bad_request("INVALID_VALUE", "Catalog objects must be JSON objects.", field)
        object_id, current = self._assign(obj, field)
        staged = self._base(obj, object_id, current)
        kind = staged["type"]
        data = staged.setdefault(DATA_FIELD[kind], {})
        if kind == "ITEM":
            nested = data.pop("variations", None) or []
            for cat in data.get("categories", []) or []:
                if isinstance(cat, dict):
                    cat["id"] = self.resolve(cat.get("id"))
            if isinstance(data.get("reporting_category"), dict):
                data["reporting_category"]["id"] = self.resolve(data["reporting_category"].get("id"))
            if data.get("category_id"):
                data["category_id"] = self.resolve(data["category_id"])
            self.staged[object_id] = staged
            for i, var in enumerate(nested):
                if isinstance(var, dict):
                    var = {**var, "item_variation_data": {**(var.get("item_variation_data") or {}),
                                                          "item_id": object_id}}
                self.add(var, f"{field}.item_data.variations[{i}]")
        elif kind == "ITEM_VARIATION":
            item_id = self.resolve(data.get("item_id"))
            if not item_id or (item_id not in self.staged and item_id not in self.state.catalog):
                raise bad_request("INVALID_VALUE", f"Item variation refers to unknown item {item_id}.",
                                  f"{field}.item_variation_data.item_id")
            data["item_id"] = item_id
            price = data.get("price_money")
            if price is not None and (not isinstance(price.get("amount"), int) or price["amount"] < 0):
                raise bad_request("INVALID_VALUE", "price_money.amount must be a non-negative integer.",
                                  f"{field}.item_variation_data.price_money.amount")
            data.setdefault("pricing_type", "FIXED_PRICING" if price is not None else "VARIABLE_PRICING")
            if current is None:
                known = self.state.item_variations.get(item_id, []) + self.new_variations.get(item_id, [])
                if object_id not in known:
                    self.new_variations.setdefault(item_id, []).append(object_id)
                data.setdefault("ordinal", len(known))
            self.staged[object_id] = staged
        else:
            self.staged[object_id] = staged
        return staged

    def commit(self) -> list[dict[str, Any]]:
        for object_id, obj in self.staged.items():
            self.state.catalog[object_id] = obj
            if obj["type"] == "ITEM":
                self.state.item_variations.setdefault(object_id, [])
        for item_id, var_ids in self.new_variations.items():
            self.state.item_variations.setdefault(item_id, []).extend(var_ids)
        return list(self.staged.values())


def batch_upsert(state: PosState, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /v2/catalog/batch-upsert (idempotency handled by the caller)."""
    batches = listify(body.get("batches"))
    if not batches:
        raise bad_request("MISSING_REQUIRED_PARAMETER", "Missing required parameter: batches", "batches")
    total = sum(len(listify(b.get("objects"))) for b in batches if isinstance(b, dict))
    if total > 10_000:
        raise bad_request("ARRAY_LENGTH_TOO_LONG", "At most 10000 objects per request.", "batches")
    with catalog_write(state), state.lock:
        stamp = state.stamp()
        id_map: dict[str, str] = {}
        objects: list[dict[str, Any]] = []
        mappings: list[dict[str, str]] = []
        errors: list[SquareError] = []
        for b_index, batch_body in enumerate(batches):
            objs = listify(batch_body.get("objects")) if isinstance(batch_body, dict) else []
            if not objs or len(objs) > 1000:
                errors.append(bad_request("INVALID_VALUE", "A batch holds 1 to 1000 objects.",
                                          f"batches[{b_index}].objects"))
                continue
            batch = _Batch(state, dict(id_map), stamp)
            batch.preassign(objs)
            try:
                for o_index, obj in enumerate(objs):
                    batch.add(obj, f"batches[{b_index}].objects[{o_index}]")
            except SquareError as exc:
                errors.append(exc)
                continue
            committed = batch.commit()
            id_map.update(batch.id_map)
            mappings += batch.mappings
            top = [o for o in committed if o["type"] != "ITEM_VARIATION"
                   or o["item_variation_data"]["item_id"] not in batch.staged]
            objects += [state.render_object(o) for o in top]
        if errors and not objects:
            raise errors[0]
        out: dict[str, Any] = {"objects": objects, "updated_at": stamp, "id_mappings": mappings}
        if errors:
            out["errors"] = [e.body()["errors"][0] for e in errors]
        return 200, out


def upsert_object(state: PosState, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /v2/catalog/object (UpsertCatalogObject)."""
    obj = body.get("object")
    if not isinstance(obj, dict):
        raise bad_request("MISSING_REQUIRED_PARAMETER", "Missing required parameter: object", "object")
    status, out = batch_upsert(state, {"batches": [{"objects": [obj]}]})
    return status, {"catalog_object": out["objects"][0], "id_mappings": out["id_mappings"]}


def _tombstone(state: PosState, object_id: str, stamp: str) -> list[str]:
    obj = state.catalog.get(object_id)
    if obj is None or obj.get("is_deleted"):
        return []
    deleted = [object_id]
    obj["is_deleted"] = True
    obj["updated_at"] = stamp
    obj["version"] = state.version_for(stamp, obj["version"])
    if obj["type"] == "ITEM":
        for vid in state.item_variations.get(object_id, []):
            deleted += _tombstone(state, vid, stamp)
    return deleted


def batch_delete(state: PosState, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v2/catalog/batch-delete."""
    ids = id_list(body, "object_ids", 200)
    with catalog_write(state), state.lock:
        stamp = state.stamp()
        deleted: list[str] = []
        for object_id in ids:
            deleted += _tombstone(state, str(object_id), stamp)
        return {"deleted_object_ids": deleted, "deleted_at": stamp}


def delete_object(state: PosState, object_id: str) -> dict[str, Any]:
    """DELETE /v2/catalog/object/{id}."""
    with state.lock:
        obj = state.catalog.get(object_id)
        if obj is None or obj.get("is_deleted"):
            raise not_found("catalog object", object_id)
    return batch_delete(state, {"object_ids": [object_id]})


# --- simulator admin ------------------------------------------------------------------------------
def sim_set_price(state: PosState, variation_id: str, amount: int, stamp: str | None = None) -> dict[str, Any]:
    """Change a variation's price as the merchant would in the POS (bumps version and updated_at)."""
    with state.lock:
        var = state.catalog.get(variation_id)
        if var is None or var["type"] != "ITEM_VARIATION":
            raise not_found("item variation", variation_id)
        stamp = stamp or state.stamp()
        data = var["item_variation_data"]
        data["price_money"] = {"amount": int(amount), "currency": state.currency}
        data["pricing_type"] = "FIXED_PRICING"
        var["updated_at"] = stamp
        var["version"] = state.version_for(stamp, var["version"])
        return copy.deepcopy(var)


def sim_find_variation(state: PosState, sku: str) -> str | None:
    """The id of the (first non-deleted) variation with ``sku``."""
    for obj in state.catalog.values():
        if obj["type"] == "ITEM_VARIATION" and not obj.get("is_deleted"):
            if obj["item_variation_data"].get("sku") == sku:
                return obj["id"]
    return None


def sim_delete(state: PosState, object_id: str) -> dict[str, Any]:
    """Delete an item (or variation) as the merchant would in the dashboard."""
    with state.lock:
        if object_id not in state.catalog:
            raise not_found("catalog object", object_id)
        stamp = state.stamp()
        return {"deleted_object_ids": _tombstone(state, object_id, stamp), "deleted_at": stamp}


_CUSTOM_TYPES = (("string_value", "STRING"), ("number_value", "NUMBER"), ("boolean_value", "BOOLEAN"),
                 ("selection_uid_values", "SELECTION"))


def _fill_custom_values(obj: dict[str, Any]) -> None:
    """Square fills the read-only ``key`` and ``type`` of custom attribute values (clients may not send them)."""
    for key, value in (obj.get("custom_attribute_values") or {}).items():
        if isinstance(value, dict):
            value.setdefault("key", key)
            kind = next((t for f, t in _CUSTOM_TYPES if value.get(f) is not None), None)
            if kind and "type" not in value:
                value["type"] = kind
