"""HTTP-level rules of the store simulator: authentication, parameter validation, listing and paging.

Authentication follows ``WC_REST_Authentication``: over HTTPS (``is_ssl()``: the connection is TLS, or the
store is told it sits behind a TLS-terminating proxy and the request says ``X-Forwarded-Proto: https``),
query-string ``consumer_key``/``consumer_secret`` then HTTP Basic (key/secret) are tried first; an unknown
key there is no error by itself. Then, over HTTP and HTTPS, OAuth 1.0a one-legged signing (parameters in
the query string or an ``Authorization: OAuth ...`` header; HMAC-SHA1/HMAC-SHA256 over
``METHOD&rawurlencode(url)&rawurlencode(sorted, encoded params)``, key ``consumer_secret + "&"``, 15-minute
timestamp window, nonce replay check). Basic and query keys over plain HTTP are ignored, so such a request
gets the endpoint's 401 ``woocommerce_rest_cannot_view`` ("Sorry, you cannot list resources.").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import random
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode

from fastapi import Request
from fastapi.responses import JSONResponse

from storeflow_simulators.store_common import WooError, invalid_params, parse_wp_date, wall_time, wp_list
from storeflow_simulators.store_state import StoreState

_NOT_FILTERS = frozenset({"page", "per_page", "offset", "consumer_key", "consumer_secret", "_fields", "context"})
OAUTH_PARAMS = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
DENIED = {
    "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
    "delete": ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
    "batch": ("woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource."),
}


def query_dict(request: Request) -> dict[str, str]:
    """Query parameters as PHP's ``$_GET`` sees them (a repeated key: the last value wins)."""
    out: dict[str, str] = {}
    for key, value in parse_qsl(request.url.query, keep_blank_values=True):
        out[key] = value
    return out


def _rawurlencode(value: str) -> str:
    return quote(value, safe="~")


def oauth_signature(method: str, base_url: str, params: dict[str, str], secret: str, algorithm: str) -> str:
    """The signature WooCommerce expects (``check_oauth_signature``)."""
    items = sorted((k, v) for k, v in params.items() if k != "oauth_signature")
    joined = "%26".join(_rawurlencode(f"{_rawurlencode(k)}={_rawurlencode(v)}") for k, v in items)
    string_to_sign = f"{method.upper()}&{_rawurlencode(base_url)}&{joined}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), getattr(hashlib, algorithm)).digest()
    return base64.b64encode(digest).decode()


_OAUTH_HEADER = re.compile(r'(oauth_[a-z_-]*)=(:?"([^"]*)"|([^,]*))')


def is_ssl(state: StoreState, request: Request) -> bool:
    """WordPress ``is_ssl()``: a TLS connection, or ``X-Forwarded-Proto: https`` when behind a TLS proxy."""
    if request.url.scheme == "https":
        return True
    if state.options.behind_tls_proxy:
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return proto == "https"
    return False


def _basic_credentials(request: Request, params: dict[str, str]) -> tuple[str, str]:
    if params.get("consumer_key") and params.get("consumer_secret"):
        return params["consumer_key"], params["consumer_secret"]
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", ""
        return user, password
    return "", ""


def _oauth_header_params(request: Request) -> dict[str, str]:
    """``WC_REST_Authentication::parse_header``: ``oauth_*`` values of an ``Authorization: OAuth`` header."""
    header = request.headers.get("authorization", "").strip()
    if not header.startswith("OAuth "):
        return {}
    out = {}
    for name, _raw, quoted, bare in _OAUTH_HEADER.findall(header):
        out[name] = unquote_plus(quoted or bare)
    out.pop("realm", None)
    return out


def authenticate(state: StoreState, request: Request, action: str) -> None:
    """Raise the WooCommerce 401 unless the request carries valid credentials."""
    params = query_dict(request)
    if is_ssl(state, request):
        key, secret = _basic_credentials(request, params)
        expected = state.keys.get(key) if key and secret else None
        if expected is not None:
            if not hmac.compare_digest(expected.encode(), secret.encode()):
                raise WooError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
            return None
    oauth = {**params, **_oauth_header_params(request)}
    if any(oauth.get(n) for n in OAUTH_PARAMS):
        return _check_oauth(state, request, oauth)
    code, message = DENIED[action]
    raise WooError(401, code, message)


def _check_oauth(state: StoreState, request: Request, params: dict[str, str]) -> None:
    missing = [n for n in OAUTH_PARAMS if not params.get(n)]
    if missing:
        noun = "parameter" if len(missing) == 1 else "parameters"
        raise WooError(401, "woocommerce_rest_authentication_missing_parameter",
                       f"Missing OAuth {noun} {', '.join(missing)}")
    secret = state.keys.get(params["oauth_consumer_key"])
    if secret is None:
        raise WooError(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
    method = params["oauth_signature_method"]
    if method not in ("HMAC-SHA1", "HMAC-SHA256"):
        raise WooError(401, "woocommerce_rest_authentication_error",
                       "Invalid signature - signature method is invalid.")
    base_url = str(request.url).split("?", 1)[0]
    if is_ssl(state, request) and base_url.startswith("http:"):
        base_url = "https:" + base_url[5:]  # the site's home URL in the scheme WordPress believes in
    expected = oauth_signature(request.method, base_url, params, secret, method[5:].lower())
    given = params["oauth_signature"].replace(" ", "+")
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise WooError(401, "woocommerce_rest_authentication_error",
                       "Invalid signature - provided signature does not match.")
    try:
        stamp = int(params["oauth_timestamp"])
    except ValueError:
        stamp = -1
    if abs(wall_time() - stamp) > 15 * 60:
        raise WooError(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
    nonce = (params["oauth_consumer_key"], params["oauth_nonce"] + "|" + params["oauth_timestamp"])
    with state.lock:
        if nonce in state.used_nonces:
            raise WooError(401, "woocommerce_rest_authentication_error",
                           "Invalid nonce - nonce has already been used.")
        state.used_nonces.add(nonce)


# --- parameters --------------------------------------------------------------------------------
class Params:
    """Validates collection parameters the way WP core does, collecting every failure into one 400."""

    def __init__(self, request: Request) -> None:
        self.raw = query_dict(request)
        self.errors: dict[str, tuple[str, str]] = {}

    def integer(self, name: str, default: int | None = None, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            self.errors[name] = ("rest_invalid_type", f"{name} is not of type integer.")
            return default
        if minimum is not None and maximum is not None and not minimum <= number <= maximum:
            self.errors[name] = ("rest_out_of_bounds",
                                 f"{name} must be between {minimum} (inclusive) and {maximum} (inclusive)")
        elif minimum is not None and number < minimum:
            self.errors[name] = ("rest_out_of_bounds", f"{name} must be greater than or equal to {minimum}")
        return number

    def enum(self, name: str, allowed: Iterable[str], default: str) -> str:
        value = self.raw.get(name)
        if value is None:
            return default
        allowed = list(allowed)
        if value not in allowed:
            self.errors[name] = ("rest_not_in_enum", f"{name} is not one of {wp_list(allowed)}.")
            return default
        return value

    def enum_list(self, name: str, allowed: Iterable[str], default: list[str]) -> list[str]:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        allowed = list(allowed)
        items = [v.strip() for v in value.split(",") if v.strip()]
        for item in items:
            if item not in allowed:
                self.errors[name] = ("rest_not_in_enum", f"{name}[{items.index(item)}] is not one of "
                                     f"{wp_list(allowed)}.")
        return items

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0", ""):
            return False
        self.errors[name] = ("rest_invalid_type", f"{name} is not of type boolean.")
        return default

    def ids(self, name: str) -> list[int] | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        try:
            return [int(v) for v in value.split(",") if v.strip()]
        except ValueError:
            self.errors[name] = ("rest_invalid_type", f"{name}[0] is not of type integer.")
            return None

    def date(self, name: str, state: StoreState) -> datetime | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        parsed = parse_wp_date(value, state.tz)
        if parsed is None:
            self.errors[name] = ("rest_invalid_date", "Invalid date.")
        return parsed

    def text(self, name: str) -> str | None:
        return self.raw.get(name)

    def email(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        local, _, domain = value.partition("@")
        if not local or "." not in domain or " " in value:
            self.errors[name] = ("rest_invalid_email", "Invalid email address.")
        return value

    def check(self) -> None:
        if self.errors:
            raise invalid_params(self.errors)


def date_filters(params: Params, state: StoreState) -> Callable[[dict[str, Any]], bool]:
    """``after``/``before`` (creation) and ``modified_after``/``modified_before``: strict, §1.5 semantics."""
    gmt = params.boolean("dates_are_gmt", False)
    tz = state.tz
    # the wall-clock value WordPress compares with the chosen column, turned into an instant once
    # (comparing instants is equivalent to comparing the column's naive strings, and much faster)
    checks = []
    for name, field, greater in (("after", "date_created", True), ("before", "date_created", False),
                                 ("modified_after", "date_modified", True),
                                 ("modified_before", "date_modified", False)):
        wall = params.date(name, state)
        if wall is not None:
            checks.append((field, wall.replace(tzinfo=UTC if gmt else tz), greater))

    def keep(rec: dict[str, Any]) -> bool:
        for field, bound, greater in checks:
            value = rec[field]
            if not (value > bound if greater else value < bound):
                return False
        return True

    return keep


def _order(state: StoreState, params: Params, records: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any],
           orderby: str, order: str, tiebreak_keys: Iterable[str]) -> list[dict[str, Any]]:
    if orderby == "include":
        wanted = params.ids("include") or []
        position = {v: i for i, v in enumerate(wanted)}
        ordered = sorted(records, key=lambda r: position.get(r["id"], len(position)))
    elif orderby == "id":
        ordered = sorted(records, key=_by_id, reverse=order == "desc")
    elif state.options.id_tiebreak or orderby not in tiebreak_keys:
        ordered = sorted(records, key=lambda r: (key(r), r["id"]), reverse=order == "desc")
    else:  # old stores: ties come back in an arbitrary order that differs between requests
        with state.lock:
            state.request_seq += 1
            rng = random.Random(state.request_seq)
        salt = {r["id"]: rng.random() for r in records}
        ordered = sorted(records, key=lambda r: (key(r), salt[r["id"]]), reverse=order == "desc")
    return ordered


def _by_id(rec: dict[str, Any]) -> int:
    return rec["id"]


def page_response(
    state: StoreState,
    request: Request,
    params: Params,
    records: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]],
    render: Callable[[dict[str, Any]], dict[str, Any]],
    sort_keys: dict[str, Callable[[dict[str, Any]], Any]],
    *,
    default_orderby: str,
    default_order: str,
    tiebreak_keys: Iterable[str] = ("date", "modified"),
    found_rows: bool = False,
) -> JSONResponse:
    """Sort, page and render a collection with ``X-WP-Total``, ``X-WP-TotalPages`` and ``Link``.

    Post-type collections (``found_rows`` False) count like ``WP_Query``: an empty first page (e.g.
    ``offset`` past the end) reports ``X-WP-Total: 0`` and no paging links; a ``page`` past the end is
    recounted and reports the true totals. ``found_rows`` (users) always reports the true totals.
    """
    page = params.integer("page", 1, minimum=1) or 1
    per_page = params.integer("per_page", 10, 1, 100) or 10
    offset = params.integer("offset")
    order = params.enum("order", ("asc", "desc"), default_order)
    orderby = params.enum("orderby", list(sort_keys), default_orderby)
    params.check()
    key = sort_keys[orderby]
    cacheable = orderby != "include" and (state.options.id_tiebreak or orderby not in tiebreak_keys)
    cache_key = (request.url.path, state.options.timezone,
                 tuple(sorted((k, v) for k, v in params.raw.items()
                              if k not in _NOT_FILTERS and not k.startswith("oauth_"))))
    hit = state.list_cache.get(cache_key) if cacheable else None
    if hit is not None and hit[0] == state.version:
        ordered = hit[1]
    else:
        version = state.version
        ordered = _order(state, params, records() if callable(records) else records, key, orderby, order,
                         tiebreak_keys)
        if cacheable:
            if len(state.list_cache) > 32:
                state.list_cache.clear()
            state.list_cache[cache_key] = (version, ordered)
    total = len(ordered)
    max_pages = math.ceil(total / per_page) if total else 0
    start = offset if offset is not None else (page - 1) * per_page
    fields = {f.strip() for f in (params.raw.get("_fields") or "").split(",") if f.strip()}
    body = [render(r) for r in ordered[max(start, 0): max(start, 0) + per_page]]
    if not body and page == 1 and not found_rows:  # WP_Query sets found_posts only when it found posts
        total = max_pages = 0
    if fields:  # WP core: only the requested top-level fields (``id`` and ``_links`` are kept)
        body = [{k: v for k, v in row.items() if k in fields or k in ("id", "_links")} for row in body]
    response = JSONResponse(body)
    response.headers["X-WP-Total"] = str(total)
    response.headers["X-WP-TotalPages"] = str(max_pages)
    base = str(request.url).split("?", 1)[0]
    links = []
    if page > 1:
        links.append((min(page - 1, max_pages) if max_pages else page - 1, "prev"))
    if max_pages > page:
        links.append((page + 1, "next"))
    shown = dict(params.raw)
    for name in ("dates_are_gmt",):  # sanitised booleans come back from add_query_arg() as 1 / 0
        if name in shown and shown[name].lower() in ("true", "1", "false", "0", ""):
            shown[name] = "1" if shown[name].lower() in ("true", "1") else "0"
    for target, rel in links:
        query = {**shown, "page": str(target)}
        response.headers.append("Link", f'<{base}?{urlencode(query)}>; rel="{rel}"')
    return response
