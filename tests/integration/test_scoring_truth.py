"""Expected orders against the simulators' recorded truth (orders read as arrays, no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from scipy.stats import spearmanr

from storeflow.scoring.btyd import fit_bgnbd
from storeflow.scoring.summary import summary_from_arrays
from storeflow_simulators.seed import generate_transactions

NOW = datetime(2026, 6, 1, tzinfo=UTC)
COUNTED = (0, 1)  # completed, processing (cancelled = 2 and refunded = 3 are not purchases)


def test_expected_orders_rank_the_true_rates():
    tr = generate_transactions(42, 5000, NOW)
    ok = np.isin(tr["order_status"], COUNTED)
    s = summary_from_arrays(tr["order_customer"][ok], tr["order_timestamp"][ok].astype(np.int64) * 10**9,
                            tr["order_total"][ok].astype(float), int(NOW.timestamp()) * 10**9)
    bg = fit_bgnbd(s["frequency"], s["recency"], s["T"])
    expected = bg.expected_purchases(365, s["frequency"], s["recency"], s["T"])
    person = s["customer_id"].to_numpy()
    rate = tr["true_rate_per_year"][person]
    alive = tr["alive"][person]
    rho_rate = spearmanr(expected, rate).statistic
    rho_current = spearmanr(expected, rate * alive).statistic  # the rate that still applies (0 once gone)
    naive = spearmanr((s["frequency"] + 1) / (s["T"] + 30), rate * alive).statistic
    print(f"\nBG/NBD {bg.params}")
    print(f"Spearman(expected orders 365d, true rate) = {rho_rate:.3f}; "
          f"vs true rate x alive = {rho_current:.3f}; naive (x+1)/(T+30) vs rate x alive = {naive:.3f}")
    assert rho_current > 0.55
    assert rho_rate > 0.1
    assert rho_current > naive  # the model earns its keep over a frequency/age heuristic
