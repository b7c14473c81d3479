"""Bulk customer cleaning on a pandas DataFrame: same rules as :func:`records.clean_customer`, fast.

Each cleaner runs once per *distinct* value (or value + country pair) and the results are scattered
back with numpy, so a million rows with repeated names, countries and already-clean emails/phones cost
a fraction of a row-by-row loop. A test checks that the result equals :func:`clean_customer` row by row.

Only the benchmark (``bench/quality.py``) uses this path; loaders screen their pages with
:func:`storeflow.quality.screen.screen_batch`. :func:`screen_customers_frame` is that screen for a whole
DataFrame (a test checks it quarantines and counts exactly as the row path does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from storeflow.quality.countries import clean_country
from storeflow.quality.emails import FAST_EMAIL, clean_email
from storeflow.quality.names import clean_name
from storeflow.quality.phones import clean_phone, e164_shape
from storeflow.quality.postcodes import canonical, clean_postcode, fallback
from storeflow.quality.quarantine import QuarantineItem, apply_quarantine
from storeflow.quality.records import BROKEN_TEXT, MAX_TEXT
from storeflow.quality.results import FieldResult, accept, reject
from storeflow.quality.screen import record_id
from storeflow.sync.streams import LoadContext

ISSUE_COLUMNS = ["row", "field", "rule", "reason", "severity"]


@dataclass
class FrameCleanResult:
    """Cleaned frame (all rows, same index) and one row per issue (``row`` = index label)."""

    frame: pd.DataFrame
    issues: pd.DataFrame

    @property
    def errors(self) -> pd.DataFrame:
        """Error-level issues (quarantine reasons)."""
        return self.issues[self.issues["severity"] == "error"]

    @property
    def warnings(self) -> pd.DataFrame:
        """Warning-level issues (reported only)."""
        return self.issues[self.issues["severity"] == "warning"]

    @property
    def quarantined(self) -> pd.DataFrame:
        """Issues that create quarantine rows (row-level ``error`` and field-level ``field``)."""
        return self.issues[self.issues["severity"].isin(["error", "field"])]

    @property
    def bad_index(self) -> pd.Index:
        """Index labels of rows with at least one row-level error (not loaded)."""
        return pd.Index(self.errors["row"].unique())

    @property
    def quarantined_index(self) -> pd.Index:
        """Index labels of rows with any quarantine issue (row or field level)."""
        return pd.Index(self.quarantined["row"].unique())

    def good(self) -> pd.DataFrame:
        """The rows that can be loaded."""
        return self.frame.drop(index=self.bad_index)


def _codes(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def _scatter(codes: np.ndarray, results: list[FieldResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map per-distinct results back to rows; code -1 (null) maps to the last slot (``accept(None)``)."""
    results = [*results, accept(None)]
    values = np.array([r.value for r in results], dtype=object)
    rules = np.array([r.rule for r in results], dtype=object)
    reasons = np.array([r.reason for r in results], dtype=object)
    idx = np.where(codes < 0, len(results) - 1, codes)
    return values[idx], rules[idx], reasons[idx]


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)


def _single(series: pd.Series, fn: Callable[[object], FieldResult], fast: Callable[[object], object] | None = None):
    codes, uniques = _codes(series)
    if fast is None:
        return _scatter(codes, [fn(u) for u in uniques])
    n = len(uniques)
    values = np.empty(n + 1, dtype=object)
    rules = np.full(n + 1, None, dtype=object)
    reasons = np.full(n + 1, None, dtype=object)
    values[:n] = [fast(u) for u in uniques]
    for i in np.flatnonzero(pd.isna(values[:n])):  # not resolved by the fast path
        res = fn(uniques[i])
        values[i], rules[i], reasons[i] = res.value, res.rule, res.reason
    idx = np.where(codes < 0, n, codes)
    return values[idx], rules[idx], reasons[idx]


def _fast_email(value: object) -> str | None:
    if type(value) is str:
        text = value.strip()
        if FAST_EMAIL.fullmatch(text):
            local, _, domain = text.rpartition("@")
            return f"{local}@{domain.lower()}"
    return None


def _fast_phone(value: object, _region: object = None) -> str | None:
    if type(value) is str:
        return e164_shape(value.strip())
    return None


def _paired(
    series: pd.Series,
    ctx: np.ndarray,
    fn: Callable[[object, object], FieldResult],
    fast: Callable[[object, object], object] | None = None,
):
    """Clean each distinct (value, context) pair once; ``fast`` may resolve a pair without ``fn``."""
    vcodes, vuniq = _codes(series)
    ccodes, cuniq = _codes(pd.Series(ctx, dtype=object))
    width = len(cuniq) + 1
    combined = vcodes.astype(np.int64) * width + (ccodes + 1)
    valid = vcodes >= 0
    codes = np.full(len(vcodes), -1, dtype=np.int64)
    codes[valid], pairs = pd.factorize(combined[valid])
    n = len(pairs)
    values = np.empty(n + 1, dtype=object)
    rules = np.full(n + 1, None, dtype=object)
    reasons = np.full(n + 1, None, dtype=object)
    pv, pc = np.divmod(np.asarray(pairs, dtype=np.int64), width)
    vals = vuniq[pv] if n else np.empty(0, dtype=object)
    ctxs = np.concatenate([[None], cuniq])[pc] if n else np.empty(0, dtype=object)
    if fast is not None:
        values[:n] = [fast(v, c) for v, c in zip(vals, ctxs, strict=True)]
        todo = np.flatnonzero(pd.isna(values[:n]))
    else:
        todo = range(n)
    for i in todo:
        res = fn(vals[i], ctxs[i])
        values[i], rules[i], reasons[i] = res.value, res.rule, res.reason
    idx = np.where(codes < 0, n, codes)
    return values[idx], rules[idx], reasons[idx]


def _text(field: str) -> Callable[[object], FieldResult]:
    def clean(value: object) -> FieldResult:
        if value is None:
            return accept(None)
        text = " ".join(str(value).split())
        if len(text) > MAX_TEXT:
            return reject("field_too_long", f"{field} is {len(text)} characters long (max {MAX_TEXT})")
        return accept(text or None)

    return clean


def _postcode(value: object, country: object) -> FieldResult:
    res = clean_postcode(value, country)
    if res.rule == "postcode_invalid":
        return FieldResult(value=fallback(str(value)), rule=res.rule, reason=res.reason)
    return res


def clean_customers_frame(df: pd.DataFrame, default_region: str = "GB") -> FrameCleanResult:
    """Clean a customers DataFrame (columns as in :func:`clean_customer`); returns frame + issues.

    The frame's index must be unique (issues refer to rows by index label).
    """
    if not df.index.is_unique:
        raise ValueError("clean_customers_frame needs a DataFrame with a unique index")
    out = df.copy()
    issue_parts: list[pd.DataFrame] = []
    rejected: dict[str, np.ndarray] = {}
    index = df.index.to_numpy()

    def record(field: str, values, rules, reasons, severity: str = "field") -> None:
        bad = pd.notna(rules) & (rules != None)  # noqa: E711 -- element-wise on an object array
        out[field] = np.where(bad, None, values)
        rejected[field] = bad
        if bad.any():
            issue_parts.append(pd.DataFrame({
                "row": index[bad], "field": field, "rule": rules[bad],
                "reason": reasons[bad], "severity": severity,
            }))

    src = _column(df, "source_id")
    missing_id = np.array([v is None or v != v or (type(v) is str and not v.strip())
                           for v in src.to_numpy(dtype=object)], dtype=bool)
    if missing_id.any():
        issue_parts.append(pd.DataFrame({"row": index[missing_id], "field": "source_id", "rule": "missing_source_id",
                                         "reason": "customer record has no source id", "severity": "error"}))
    broken: dict[str, np.ndarray] = {}  # NUL bytes / broken Unicode as sent: the field is quarantined first
    df = df.copy()
    for col in df.columns:
        if col in ("source_id", "consents"):
            continue
        values = df[col].to_numpy(dtype=object)
        bad = np.array([type(v) is str and BROKEN_TEXT.search(v) is not None for v in values], dtype=bool)
        if bad.any():
            broken[col] = bad
            df.loc[bad, col] = None
            out.loc[bad, col] = None
            issue_parts.append(pd.DataFrame({"row": index[bad], "field": col, "rule": "value_unstorable",
                                             "reason": f"{col} contains a NUL byte or invalid Unicode",
                                             "severity": "field"}))
    c_val, c_rule, c_reason = _single(_column(df, "country"), clean_country)
    record("country", c_val, c_rule, c_reason)
    region = np.where(pd.notna(c_rule) & (c_rule != None), None, c_val)  # noqa: E711
    e_val, e_rule, e_reason = _single(_column(df, "email"), clean_email, _fast_email)
    record("email", e_val, e_rule, e_reason)
    p_val, p_rule, p_reason = _paired(_column(df, "phone"), region,
                                      lambda v, r: clean_phone(v, r, default_region), _fast_phone)
    record("phone", p_val, p_rule, p_reason)
    for name in ("given_name", "family_name"):
        record(name, *_single(_column(df, name), clean_name))
    for name in ("address_line1", "city"):
        record(name, *_single(_column(df, name), _text(name)))
    pc_val, pc_rule, pc_reason = _paired(_column(df, "postcode"), region, _postcode, canonical)
    invalid = pc_rule == "postcode_invalid"
    record("postcode", pc_val, np.where(invalid, None, pc_rule), pc_reason)  # invalid: fallback text kept
    if invalid.any():
        issue_parts.append(pd.DataFrame({"row": index[invalid], "field": "postcode", "rule": "postcode_invalid",
                                         "reason": pc_reason[invalid], "severity": "warning"}))
    email = out["email"].to_numpy(dtype=object)
    out["email_norm"] = [e.lower() if isinstance(e, str) else None for e in email]
    contact = out[["email", "phone", "given_name", "family_name"]].notna().any(axis=1).to_numpy().copy()
    for name in ("email", "phone", "given_name", "family_name"):
        contact |= rejected[name]  # a value that was there but quarantined still counts as contact data
        if name in broken:
            contact |= broken[name]
    if (~contact).any():
        issue_parts.append(pd.DataFrame({"row": index[~contact], "field": None, "rule": "no_contact",
                                         "reason": "customer has no email, phone or name", "severity": "warning"}))
    issues = pd.concat(issue_parts, ignore_index=True) if issue_parts else pd.DataFrame(columns=ISSUE_COLUMNS)
    return FrameCleanResult(out, issues[ISSUE_COLUMNS])


def screen_customers_frame(conn: Connection, ctx: LoadContext, df: pd.DataFrame,
                           default_region: str = "GB") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Screen a large customers DataFrame with the bulk cleaner: quarantine, count, stage; return what loads.

    Same rules, quarantine rows and ``quarantined_<rule>`` counters as
    ``screen_batch(conn, ctx, "customers", records, "source_id")``; the input needs a unique index and a
    ``source_id`` column. Returns the cleaned rows to load (same index labels as the input) and the
    batch's counts in :func:`storeflow.quality.summary.dq_summary`'s vocabulary.
    """
    res = clean_customers_frame(df, default_region)
    raw_rows = df.to_dict("index")

    def source_id(raw: dict[str, Any]) -> str:  # a missing id is NaN in a DataFrame row
        value = raw.get("source_id")
        return record_id({"source_id": None if isinstance(value, float) and value != value else value}, "source_id")

    quarantined = res.quarantined
    items = [
        QuarantineItem(source_id(raw_rows[row]), rule, reason, raw_rows[row], field)
        for row, field, rule, reason in zip(quarantined["row"], quarantined["field"], quarantined["rule"],
                                            quarantined["reason"], strict=True)
    ]
    outcome = apply_quarantine(conn, stream=ctx.stream, source_system=ctx.source_system,
                               batch_ids=[source_id(r) for r in raw_rows.values()], items=items,
                               run_id=ctx.run_id)
    for rule, n in outcome.by_rule.items():
        ctx.count(f"quarantined_{rule}", n)
    loaded = res.good()
    ctx.stage(loaded.to_dict("records"))
    bad_rows = set(res.bad_index)
    q_rows = set(res.quarantined_index)
    compared = [c for c in ("email", "phone", "given_name", "family_name", "address_line1", "city", "postcode",
                            "country") if c in df.columns]
    changed = pd.Series(False, index=df.index)
    for c in compared:
        before, after = df[c].astype(object), res.frame[c].astype(object)
        changed |= ~((before == after) | (before.isna() & after.isna()))
    cleaned = int((changed & ~df.index.isin(list(q_rows))).sum())
    by_reason = quarantined.drop_duplicates(["row", "rule"])["rule"].value_counts().sort_index()
    warn = res.warnings.drop_duplicates(["row", "rule"])["rule"].value_counts().sort_index()
    rows_in = len(df)
    counts: dict[str, Any] = {
        "stream": "customers", "rows_in": rows_in, "rows_cleaned": cleaned, "rows_loaded": rows_in - len(bad_rows),
        "rows_rejected": len(bad_rows), "rows_field_quarantined": len(q_rows - bad_rows),
        "rows_quarantined": len(q_rows), "bad_share": round(len(q_rows) / rows_in, 4) if rows_in else 0.0,
        "quarantined_by_reason": {str(k): int(v) for k, v in by_reason.items()},
        "warnings_by_rule": {str(k): int(v) for k, v in warn.items()},
    }
    return loaded, counts
