"""Result objects shared by every cleaner and row rule.

A cleaner never raises on bad input: it returns a :class:`FieldResult` with either the cleaned value or
the failed rule and a human-readable reason. Row rules return a :class:`CleanResult` that carries the
cleaned record (or ``None`` when the row must be quarantined) and every :class:`Issue` found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

#: ``error``: the row is quarantined and not loaded. ``field``: the field is quarantined (its value dropped,
#: the raw payload kept in quarantine) and the rest of the row is loaded. ``warning``: reported only.
Severity = Literal["error", "field", "warning"]


class FieldResult(NamedTuple):
    """Outcome of cleaning one value: ``ok`` with ``value``, or ``rule`` + ``reason`` (a light tuple)."""

    value: Any = None
    rule: str | None = None
    reason: str | None = None
    changed: bool = False

    @property
    def ok(self) -> bool:
        """True when the value was accepted (possibly after normalisation)."""
        return self.rule is None


def accept(value: Any, original: Any = None) -> FieldResult:
    """An accepted value; ``changed`` is True when it differs from ``original``."""
    return FieldResult(value=value, changed=value != original)


def reject(rule: str, reason: str) -> FieldResult:
    """A rejected value with its rule id and human-readable reason."""
    return FieldResult(rule=rule, reason=reason)


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a record (see :data:`Severity`)."""

    rule: str
    reason: str
    field: str | None = None
    severity: Severity = "error"


@dataclass(slots=True)
class CleanResult:
    """Outcome of cleaning one record: the cleaned record, or ``None`` plus the issues that stop it."""

    record: dict[str, Any] | None
    issues: list[Issue] = field(default_factory=list)
    changed_fields: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no error-level issue was found (the row can be loaded)."""
        return not any(i.severity == "error" for i in self.issues)

    @property
    def errors(self) -> list[Issue]:
        """Error-level issues (the quarantine reasons)."""
        return [i for i in self.issues if i.severity == "error"]

    @property
    def quarantined(self) -> list[Issue]:
        """Issues that create quarantine rows (``error`` and ``field``)."""
        return [i for i in self.issues if i.severity in ("error", "field")]

    @property
    def warnings(self) -> list[Issue]:
        """Warning-level issues (reported, the row is still loaded)."""
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def rule(self) -> str | None:
        """The first quarantine rule (row- or field-level), if any."""
        bad = self.errors or self.quarantined
        return bad[0].rule if bad else None
