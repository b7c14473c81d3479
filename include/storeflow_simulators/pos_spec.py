"""Square's OpenAPI contract, as the POS simulator enforces it (and the conformance tests judge it).

The simulator validates every ``/v2`` request against the operation it matches in a vendored subset
of Square's published spec (``square_spec.json`` beside this module, written by
``scripts/vendor_square_spec.py`` from ``square/connect-api-specification``), and refuses what the
spec forbids with Square's error shape and codes:

=====================================  ========================================================
what is wrong                          Square's answer (400, ``INVALID_REQUEST_ERROR``)
=====================================  ========================================================
``Square-Version`` not ``YYYY-MM-DD``  ``INVALID_SQUARE_VERSION_FORMAT`` (field ``Square-Version``)
a value outside an enum                ``INVALID_ENUM_VALUE``
a wrong JSON type                      ``EXPECTED_BOOLEAN`` / ``EXPECTED_INTEGER`` / ``EXPECTED_STRING`` /
                                       ``EXPECTED_OBJECT`` / ``EXPECTED_ARRAY`` / ``EXPECTED_FLOAT``
a query value of the wrong type        ``INVALID_VALUE``
an unknown body field                  ``BAD_REQUEST`` ("The field named 'x' is unrecognized.")
too long / too short / too big         ``VALUE_TOO_LONG`` / ``VALUE_TOO_SHORT`` / ``VALUE_TOO_HIGH`` /
                                       ``VALUE_TOO_LOW``; arrays ``ARRAY_LENGTH_TOO_LONG`` / ``…_SHORT``
a missing required field or parameter  ``MISSING_REQUIRED_PARAMETER``
=====================================  ========================================================

Read-only fields in a request are ignored, as Square ignores them. Speed: a body is first checked by
``jsonschema-rs`` against a draft-4 rendering of the same schemas (:func:`to_draft4`; ~100× faster, a
100-change inventory batch costs well under a millisecond); only a body it refuses goes through
``openapi-schema-validator`` for the detailed error. The same schema preparation
(:func:`prepare_schemas`: undeclared fields are errors, ``nullable`` works beside ``$ref``) is used by
the conformance tests against the full spec.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

try:  # the fast path is optional: without it every body goes through openapi-schema-validator
    import jsonschema_rs
except ImportError:  # pragma: no cover - pinned in requirements.txt
    jsonschema_rs = None
from jsonschema import validators
from jsonschema.exceptions import ValidationError, best_match
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator

from storeflow_simulators.pos_common import SquareError, bad_request

SPEC_FILE = "square_spec.json"
#: write-mode validation that lets read-only fields through (Square ignores them in requests)
LenientWriteValidator = validators.extend(OAS30WriteValidator, {"readOnly": lambda *args: None})
_MODES = {"read": OAS30ReadValidator, "write": OAS30WriteValidator, "lenient": LenientWriteValidator}
_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DOC_KEYS = frozenset({"description", "example", "examples", "x-release-status", "summary", "tags",
                       "x-is-deprecated", "x-endpoint-errors", "security", "deprecated"})
_TYPE_CODES = {
    "boolean": "EXPECTED_BOOLEAN", "integer": "EXPECTED_INTEGER", "string": "EXPECTED_STRING",
    "object": "EXPECTED_OBJECT", "array": "EXPECTED_ARRAY", "number": "EXPECTED_FLOAT",
}
_LIMIT_CODES = {
    "maxLength": "VALUE_TOO_LONG", "minLength": "VALUE_TOO_SHORT", "maximum": "VALUE_TOO_HIGH",
    "minimum": "VALUE_TOO_LOW", "maxItems": "ARRAY_LENGTH_TOO_LONG", "minItems": "ARRAY_LENGTH_TOO_SHORT",
    "maxProperties": "TOO_MANY_MAP_ENTRIES",
}


def prepare_schemas(schemas: dict[str, Any]) -> dict[str, Any]:
    """A strict copy of ``components.schemas``: objects refuse undeclared properties; a ``nullable``
    sibling of ``$ref`` is honoured (draft-4 ``$ref`` would otherwise hide it); a ``$ref`` to a schema
    the document lacks (Square's spec has one: ``CatalogModifierToggleOverrideType``) accepts anything."""

    def finish(node: dict[str, Any], out: dict[str, Any]) -> Any:
        if "$ref" in out and out["$ref"].rsplit("/", 1)[1] not in schemas:
            return {}
        if "$ref" in out and out.get("nullable"):
            return {"anyOf": [{"$ref": out["$ref"]}, {"enum": [None]}]}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out

    return _rewrite_schemas(schemas, _DOC_KEYS, finish)


def _rewrite_schemas(schemas: dict[str, Any], drop: Collection[str],
                     finish: Callable[[dict[str, Any], dict[str, Any]], Any]) -> dict[str, Any]:
    """Copy every schema bottom-up without the keywords in ``drop`` (property names are kept);
    ``finish(node, copy)`` gives what each object becomes."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        out = {k: ({n: walk(s) for n, s in v.items()} if k == "properties" else walk(v))
               for k, v in node.items() if k not in drop}
        return finish(node, out)

    return {name: walk(schema) for name, schema in schemas.items()}


@dataclass(frozen=True)
class Operation:
    """One spec operation: method, path template, parameters, request and response schema names."""

    method: str
    path: str
    operation_id: str
    parameters: tuple[dict[str, Any], ...]
    request_schema: str | None
    response_schema: str | None
    pattern: re.Pattern[str]


class SquareSpec:
    """Operations and (strict) schemas of a Square OpenAPI document, with validators for both directions."""

    def __init__(self, spec: dict[str, Any]):
        self.schemas = prepare_schemas(spec["components"]["schemas"])
        self.root = {"components": {"schemas": self.schemas}}
        self.operations: list[Operation] = []
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if method not in ("get", "post", "put", "delete"):
                    continue
                body = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
                ok = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
                regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"
                self.operations.append(Operation(
                    method.upper(), path, op.get("operationId", ""), tuple(op.get("parameters") or ()),
                    _ref_name(body), _ref_name(ok.get("schema")), re.compile(regex),
                ))
        # literal paths before templated ones (``/v2/orders/search`` is not ``/v2/orders/{order_id}``)
        self.operations.sort(key=lambda o: o.path.count("{"))

    def find(self, method: str, path: str) -> Operation | None:
        """The operation serving ``method path`` (a concrete path), or None."""
        for op in self.operations:
            if op.method == method.upper() and op.pattern.match(path):
                return op
        return None

    def errors(self, schema_name: str, instance: Any, *, mode: str) -> list[ValidationError]:
        """Schema violations of ``instance`` against ``schema_name``: ``mode`` "read" (responses), "write"
        (requests, read-only fields are errors) or "lenient" (requests, read-only fields ignored)."""
        cls = _MODES[mode]
        found = self._validator(cls, schema_name).iter_errors(instance)
        return sorted(found, key=lambda e: [f"{p:09d}" if isinstance(p, int) else str(p) for p in e.absolute_path])

    @cache  # noqa: B019 - one spec object per process, validators are reusable
    def _validator(self, cls: type, schema_name: str) -> Any:
        return cls({**self.root, "$ref": f"#/components/schemas/{schema_name}"})

    def quick_valid(self, schema_name: str, instance: Any) -> bool:
        """True when ``instance`` certainly passes ``schema_name`` in lenient write mode (jsonschema-rs);
        False means "look closer" with :meth:`errors`."""
        if jsonschema_rs is None:
            return False
        return bool(self._fast(schema_name).is_valid(instance))

    @cache  # noqa: B019
    def _fast(self, schema_name: str) -> Any:
        if not hasattr(self, "_draft4"):
            self._draft4 = to_draft4(self.schemas)
        root = {"components": {"schemas": self._draft4}, "$ref": f"#/components/schemas/{schema_name}"}
        return jsonschema_rs.Draft4Validator(root, validate_formats=False)

    def param_errors(self, op: Operation, query: dict[str, list[str]]) -> list[tuple[str, str, str]]:
        """Query parameter problems as (code, detail, field): missing, wrong type, unknown enum value."""
        out: list[tuple[str, str, str]] = []
        for param in op.parameters:
            if param.get("in") != "query":
                continue
            name, schema = param["name"], self._resolve(param.get("schema") or {})
            values = query.get(name)
            if not values:
                if param.get("required"):
                    out.append(("MISSING_REQUIRED_PARAMETER", f"Missing required parameter: {name}", name))
                continue
            for value in values:
                problem = self._query_value_problem(name, value, schema)
                if problem:
                    out.append((*problem, name))
        return out

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def _query_value_problem(self, name: str, value: str, schema: dict[str, Any]) -> tuple[str, str] | None:
        kind = schema.get("type")
        if kind == "integer" and not re.fullmatch(r"-?\d+", value):
            return "INVALID_VALUE", f"Expected an integer value for {name}, got {value!r}."
        if kind == "boolean" and value not in ("true", "false"):
            return "INVALID_VALUE", f"Expected a boolean value for {name}, got {value!r}."
        if "enum" in schema and value not in schema["enum"]:
            return "INVALID_ENUM_VALUE", f"`{value}` is not a valid enum value for `{name}`."
        if name == "types":  # ListCatalog: a comma-separated, case-insensitive list of CatalogObjectType
            allowed = set(self.schemas.get("CatalogObjectType", {}).get("enum", ()))
            for item in (x.strip() for x in value.split(",") if x.strip()):
                if item.upper() not in allowed:
                    return "INVALID_ENUM_VALUE", f"`{item}` is not a valid enum value for `types`."
        return None


def to_draft4(schemas: dict[str, Any]) -> dict[str, Any]:
    """Prepared OAS 3.0 schemas as JSON Schema draft 4 with lenient-write semantics: ``nullable`` becomes a
    ``null`` type/enum member, read-only properties are not required (and, being annotations, allowed)."""

    def finish(node: dict[str, Any], out: dict[str, Any]) -> Any:
        if node.get("nullable"):
            if isinstance(out.get("type"), str):
                out["type"] = [out["type"], "null"]
            if isinstance(out.get("enum"), list) and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        if isinstance(out.get("required"), list):
            props = node.get("properties") or {}
            out["required"] = [r for r in out["required"] if not (props.get(r) or {}).get("readOnly")]
            if not out["required"]:
                del out["required"]
        return out

    return _rewrite_schemas(schemas, ("nullable", "readOnly", "writeOnly", "format"), finish)


def _ref_name(schema: dict[str, Any] | None) -> str | None:
    if not schema or "$ref" not in schema:
        return None
    return schema["$ref"].rsplit("/", 1)[1]


@cache
def vendored_spec() -> SquareSpec:
    """The simulator's subset of Square's spec (package data, no network, no ``../shared``)."""
    text = resources.files("storeflow_simulators").joinpath(SPEC_FILE).read_text(encoding="utf-8")
    return SquareSpec(json.loads(text))


def check_square_version(value: str | None) -> None:
    """Refuse a malformed ``Square-Version`` header (absent means the app's default version)."""
    if value is None:
        return
    ok = bool(_VERSION_RE.match(value))
    if ok:
        try:
            date.fromisoformat(value)
        except ValueError:
            ok = False
    if not ok:
        raise SquareError(400, "INVALID_SQUARE_VERSION_FORMAT",
                          f"Invalid Square-Version format: {value!r}. Expected YYYY-MM-DD.",
                          field="Square-Version")


def _field(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        return ".".join(parts + [_unknown_fields(error)[0]]) if _unknown_fields(error) else ".".join(parts)
    if error.validator == "required":
        missing = re.match(r"'([^']+)' is a required property", error.message)
        if missing:
            parts.append(missing.group(1))
    return ".".join(parts)


def _unknown_fields(error: ValidationError) -> list[str]:
    allowed = set((error.schema or {}).get("properties", {}))
    return sorted(k for k in error.instance if k not in allowed)


def innermost(error: ValidationError) -> ValidationError:
    """The concrete violation behind a nullable-``$ref`` wrapper (``anyOf: [$ref, null]``)."""
    while error.validator == "anyOf" and error.context:
        branch = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == 0]
        error = best_match(branch or error.context)
    return error


def square_error_for(error: ValidationError) -> SquareError:
    """Square's 400 for one schema violation of a request body."""
    error = innermost(error)
    field = _field(error)
    rule = str(error.validator)
    if rule == "type":
        expected = error.validator_value if isinstance(error.validator_value, str) else "value"
        code = _TYPE_CODES.get(expected, "INVALID_VALUE")
        return bad_request(code, f"Expected {expected} for `{field}`, got {json.dumps(error.instance)[:60]}.",
                           field)
    if rule == "enum":
        return bad_request("INVALID_ENUM_VALUE",
                           f"`{str(error.instance)[:60]}` is not a valid enum value for `{field}`.", field)
    if rule == "additionalProperties":
        return bad_request("BAD_REQUEST", f"The field named '{field.rsplit('.', 1)[-1]}' is unrecognized.", field)
    if rule == "required":
        return bad_request("MISSING_REQUIRED_PARAMETER", f"Field must be set: `{field}`.", field)
    if rule in _LIMIT_CODES:
        return bad_request(_LIMIT_CODES[rule], f"`{field}` breaks {rule} {error.validator_value}.", field)
    return bad_request("INVALID_VALUE", f"Invalid value for `{field}`.", field)


def validate_request(method: str, path: str, query: dict[str, list[str]], body: Any,
                     spec: SquareSpec | None = None) -> None:
    """Raise Square's 400 for the first thing in this request the spec forbids (unknown operations pass)."""
    spec = spec or vendored_spec()
    op = spec.find(method, path)
    if op is None:
        return
    for code, detail, field in spec.param_errors(op, query):
        raise bad_request(code, detail, field)
    if op.request_schema and body is not None and not spec.quick_valid(op.request_schema, body):
        for error in spec.errors(op.request_schema, body, mode="lenient"):  # Square ignores read-only fields
            raise square_error_for(error)


def trim_spec(spec: dict[str, Any], operations: list[tuple[str, str]]) -> dict[str, Any]:
    """The part of ``spec`` that ``operations`` ((METHOD, path template)) need: their paths and every
    schema they reach, descriptions dropped (for ``square_spec.json``)."""
    paths: dict[str, Any] = {}
    for method, path in operations:
        op = copy.deepcopy(spec["paths"][path][method.lower()])
        keep = {k: op[k] for k in ("operationId", "parameters", "requestBody", "responses") if k in op}
        paths.setdefault(path, {})[method.lower()] = keep
    schemas = spec["components"]["schemas"]
    needed: set[str] = set()
    todo = [paths]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in needed and name in schemas:  # the spec has one dangling $ref
                    needed.add(name)
                    todo.append(schemas[name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: ({n: strip(s) for n, s in v.items()} if k == "properties" else strip(v))
                    for k, v in node.items() if k not in _DOC_KEYS}
        if isinstance(node, list):
            return [strip(x) for x in node]
        return node

    return {
        "openapi": spec["openapi"],
        "info": {"title": "Square Connect v2 (subset for the storeflow POS simulator)",
                 "version": spec["info"]["version"]},
        "paths": strip(paths),
        "components": {"schemas": {name: strip(schemas[name]) for name in sorted(needed)}},
    }
