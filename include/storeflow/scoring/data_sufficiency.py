"""Data sufficiency: fit BG/NBD + Gamma-Gamma only with enough purchasers and history (else heuristics)."""

from __future__ import annotations

from dataclasses import dataclass

METHOD_MODEL = "bgnbd"
METHOD_BOOSTED = "boosted"  # chosen after the sufficiency check, only where the backtest shows it beats BG/NBD
METHOD_HEURISTIC = "heuristic"


@dataclass(frozen=True)
class SufficiencyDecision:
    """Which method scores this run, and why."""

    method: str  # "bgnbd" | "heuristic"
    reason: str
    purchasers: int
    history_days: float


def decide(purchasers: int, history_days: float, min_purchasers: int, min_history_days: float) -> SufficiencyDecision:
    """``bgnbd`` when purchasers >= min_purchasers and history_days >= min_history_days, else ``heuristic``."""
    missing = []
    if purchasers < min_purchasers:
        missing.append(f"{purchasers} purchasers < {min_purchasers}")
    if history_days < min_history_days:
        missing.append(f"{history_days:.0f} days of history < {min_history_days}")
    if missing:
        return SufficiencyDecision(METHOD_HEURISTIC, "; ".join(missing), purchasers, history_days)
    return SufficiencyDecision(METHOD_MODEL, "enough data", purchasers, history_days)
