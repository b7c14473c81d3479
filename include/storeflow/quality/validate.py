"""Run a stream's GX suite on a pandas DataFrame and map failures back to rows.

GX 1.x core: one ephemeral context per process (cached), a pandas data source, one dataframe asset and
whole-dataframe batch definition per stream, the stream's :class:`ExpectationSuite`, a
``ValidationDefinition`` and a ``Checkpoint``; results use ``result_format=COMPLETE`` so every failing
row's index label is returned (``unexpected_index_list``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from storeflow.quality.suites import ExpectationSpec, build_suite, columns_of, frame_for, suite_specs

if TYPE_CHECKING:
    from great_expectations import Checkpoint, ValidationDefinition
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.data_context.data_context.ephemeral_data_context import EphemeralDataContext
    from great_expectations.datasource.fluent.pandas_datasource import PandasDatasource

log = logging.getLogger(__name__)
_LOCK = threading.RLock()
_CONTEXT: EphemeralDataContext | None = None
#: Suite rules that only warn on data as the source sent it (row rules on): a POS count below 0 is an
#: oversell the till allowed (row warning ``stock_negative``); stock storeflow computes to push (row rules
#: off) keeps the rule critical.
SOURCE_SEVERITY: dict[str, dict[str, str]] = {"stock": {"sellable_non_negative": "warning"}}
#: (stream, extra specs, checkpoint?) -> checkpoint or validation definition
_PREPARED: dict[tuple[str, tuple[str, ...], bool], Checkpoint | ValidationDefinition] = {}


@dataclass
class ExpectationOutcome:
    """Result of one expectation on one batch."""

    rule: str
    severity: str
    expectation: str
    column: str | None
    success: bool
    element_count: int
    unexpected_count: int
    unexpected_percent: float | None
    failing_rows: list[Any] = field(default_factory=list)  # index labels of the validated frame
    sample: list[Any] = field(default_factory=list)


@dataclass
class ValidationReport:
    """All expectation outcomes of one stream's batch, plus the raw GX result (for Data Docs)."""

    stream: str
    success: bool
    outcomes: list[ExpectationOutcome]
    gx_result: ExpectationSuiteValidationResult | None = None
    statistics: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_critical(self) -> list[ExpectationOutcome]:
        """Failed expectations with severity critical (these fail the gate)."""
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def failed_warning(self) -> list[ExpectationOutcome]:
        """Failed expectations with severity warning (reported only)."""
        return [o for o in self.outcomes if not o.success and o.severity == "warning"]

    def as_dict(self) -> dict[str, Any]:
        """Compact JSON-able summary (no row lists)."""
        return {
            "success": self.success,
            "critical_failed": [o.rule for o in self.failed_critical],
            "warnings_failed": [o.rule for o in self.failed_warning],
            "expectations": [
                {"rule": o.rule, "severity": o.severity, "success": o.success, "unexpected": o.unexpected_count,
                 "of": o.element_count}
                for o in self.outcomes
            ],
        }


def gx_context() -> EphemeralDataContext:
    """The process-wide ephemeral GX context (created once, progress bars off)."""
    global _CONTEXT
    with _LOCK:
        if _CONTEXT is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            ctx = gx.get_context(mode="ephemeral")
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
            ctx.data_sources.add_pandas(name="storeflow")
            _CONTEXT = ctx
        return _CONTEXT


def _validation_definition(stream: str, extra: Sequence[ExpectationSpec]) -> ValidationDefinition:
    import great_expectations as gx

    ctx = gx_context()
    ds = cast("PandasDatasource", ctx.data_sources.get("storeflow"))  # gx_context() adds it as a pandas source
    try:
        asset = ds.get_asset(stream)
    except LookupError:
        asset = ds.add_dataframe_asset(name=stream)
    try:
        batch_def = asset.get_batch_definition("whole")
    except (KeyError, LookupError):
        batch_def = asset.add_batch_definition_whole_dataframe(name="whole")
    name = f"storeflow_{stream}" + (f"_x{len(_PREPARED)}" if extra else "")
    suite = ctx.suites.add_or_update(build_suite(stream, name, extra))
    return ctx.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batch_def, suite=suite))


def run_suite(stream: str, df: pd.DataFrame, extra: Sequence[ExpectationSpec] = (), *,
              use_checkpoint: bool = True) -> ExpectationSuiteValidationResult:
    """Run the stream's suite on ``df`` (already shaped by :func:`frame_for`); return the GX suite result.

    The validation definition and checkpoint of a stream are built once per process and reused.
    """
    import great_expectations as gx

    with _LOCK:
        key = (stream, tuple(repr(s) for s in extra), use_checkpoint)
        runner = _PREPARED.get(key)
        fmt = {"result_format": "COMPLETE", "partial_unexpected_count": 5}
        if runner is None:
            vd = _validation_definition(stream, extra)
            if use_checkpoint:
                runner = gx_context().checkpoints.add_or_update(
                    gx.Checkpoint(name=vd.name, validation_definitions=[vd], result_format=fmt))
            else:
                runner = vd
            _PREPARED[key] = runner
        if isinstance(runner, gx.ValidationDefinition):  # use_checkpoint=False (it is part of the key)
            return runner.run(batch_parameters={"dataframe": df}, result_format=fmt)
        result = runner.run(batch_parameters={"dataframe": df})
        return next(iter(result.run_results.values()))


def _outcome(res: ExpectationValidationResult, specs_by_rule: dict[str, ExpectationSpec]) -> ExpectationOutcome:
    cfg = res.expectation_config
    assert cfg is not None, "a suite run reports each expectation's configuration"
    meta = cfg.meta or {}
    rule = meta.get("rule", cfg.type)
    spec = specs_by_rule.get(rule)
    body = res.result or {}
    unexpected = body.get("unexpected_count") or 0
    if res.exception_info and res.exception_info.get("raised_exception"):
        log.warning("expectation %s raised: %s", rule, res.exception_info.get("exception_message"))
    return ExpectationOutcome(
        rule=rule,
        severity=meta.get("severity") or (spec.severity if spec else "critical"),
        expectation=cfg.type,
        column=cfg.kwargs.get("column"),
        success=bool(res.success),
        element_count=int(body.get("element_count") or 0),
        unexpected_count=int(unexpected),
        unexpected_percent=body.get("unexpected_percent"),
        failing_rows=list(body.get("unexpected_index_list") or []),
        sample=list(body.get("partial_unexpected_list") or [])[:5],
    )


def validate_frame(
    stream: str,
    records: Sequence[dict[str, Any]] | pd.DataFrame,
    *,
    now: datetime | None = None,
    extra: Sequence[ExpectationSpec] = (),
    shaped: bool = False,
    severity: Mapping[str, str] | None = None,
) -> ValidationReport:
    """Validate a batch of ``stream`` with GX and return per-expectation outcomes with failing rows.

    ``records`` may be dicts or a DataFrame; derived columns are added by :func:`frame_for` unless
    ``shaped`` is True. Row labels in ``failing_rows`` are the DataFrame's index labels (positions for
    a list of dicts). ``severity`` overrides the suite's severity per rule for this batch, e.g.
    ``{"sellable_non_negative": "warning"}`` for raw POS counts, where an oversell is data (stock that
    storeflow computes to push stays under the critical rule).
    """
    df: pd.DataFrame = records if shaped else frame_for(stream, records, now)
    # only the columns the suite reads (GX fingerprints the whole frame), as plain objects (fast null checks)
    wanted = set(columns_of(stream)) | {s.kwargs["column"] for s in extra if "column" in s.kwargs}
    df = df[sorted(c for c in wanted if c in df.columns)]
    df = df.astype({c: object for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)})
    specs = {s.rule: s for s in [*suite_specs(stream), *extra]}
    overrides = dict(severity or {})
    if df.empty:
        return ValidationReport(stream, True, [
            ExpectationOutcome(s.rule, overrides.get(s.rule, s.severity), s.expectation, s.kwargs.get("column"),
                               True, 0, 0, None)
            for s in specs.values()])
    result = run_suite(stream, df, extra)
    outcomes = [_outcome(r, specs) for r in result.results]
    for outcome in outcomes:
        outcome.severity = overrides.get(outcome.rule, outcome.severity)
    success = not any(o.severity == "critical" and not o.success for o in outcomes)
    return ValidationReport(stream, success, outcomes, result, dict(result.statistics or {}))
