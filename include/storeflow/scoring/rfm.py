"""RFM: recency/frequency/monetary scores 1-5 by quintile and the pinned R x F segment table.

Quintile scores and ties: a customer's score is ``1 + floor(5 * share of customers strictly worse)``,
where "worse" means older last order (R), fewer orders (F) or less total spend (M). Equal values
therefore always get equal scores, and a tied block gets the score of its lowest position (so when 60 %
of customers have exactly one order, all of them get F1 and the two-order customers start at F4). With
distinct values this is the ordinary quintile split (20 % per score).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import rankdata

#: The pinned R x F segment table: (segment, R scores, F scores). Covers all 25 cells exactly once.
SEGMENT_TABLE: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("Champions", (5,), (4, 5)),
    ("Loyal", (3, 4), (4, 5)),
    ("Potential Loyalist", (4, 5), (2, 3)),
    ("New Customers", (5,), (1,)),
    ("Promising", (4,), (1,)),
    ("Need Attention", (3,), (3,)),
    ("About to Sleep", (3,), (1, 2)),
    ("At Risk", (1, 2), (3, 4)),
    ("Can't Lose Them", (1, 2), (5,)),
    ("Hibernating", (1, 2), (1, 2)),
)

_SEGMENT_GRID = np.empty((6, 6), dtype=object)
for _name, _rs, _fs in SEGMENT_TABLE:
    for _r in _rs:
        for _f in _fs:
            if _SEGMENT_GRID[_r, _f] is not None:
                raise AssertionError(f"segment table overlaps at R{_r} F{_f}")
            _SEGMENT_GRID[_r, _f] = _name


def quintile_score(values: npt.ArrayLike, higher_is_better: bool = True) -> npt.NDArray[np.int_]:
    """Scores 1-5: ``1 + floor(5 * share strictly worse)`` (ties share the lowest score of their block)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return np.empty(0, dtype=int)
    key = v if higher_is_better else -v
    below = _strictly_below(key)  # number of values strictly worse
    return (1 + np.floor(5 * below / v.size)).astype(int).clip(1, 5)


def _strictly_below(key: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """For each value, how many values are strictly smaller (``rankdata(key, "min") - 1``).

    Whole numbers of a modest range (order counts, days, spend in minor units) are counted with one
    ``bincount`` instead of a sort.
    """
    if np.all(np.isfinite(key)):
        lo, hi = float(key.min()), float(key.max())
        if hi - lo <= 8 * key.size + 1024 and np.all(key == np.floor(key)):
            k = (key - lo).astype(np.int64)
            counts = np.bincount(k)
            return (np.cumsum(counts) - counts)[k]
    return rankdata(key, method="min") - 1


def segment(r_score: npt.ArrayLike, f_score: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Segment names from the pinned R x F table (vectorised)."""
    r = np.asarray(r_score, dtype=int)
    f = np.asarray(f_score, dtype=int)
    return _SEGMENT_GRID[r, f]


def rfm_scores(recency_days: npt.ArrayLike, n_orders: npt.ArrayLike, total_spend: npt.ArrayLike) -> pd.DataFrame:
    """R, F, M scores and segment for aligned arrays (recency in days since the last order)."""
    r = quintile_score(recency_days, higher_is_better=False)
    f = quintile_score(n_orders)
    m = quintile_score(total_spend)
    return pd.DataFrame({"r_score": r, "f_score": f, "m_score": m, "rfm_segment": segment(r, f)})


def quintile_thresholds(values: npt.ArrayLike, higher_is_better: bool = True) -> list[float]:
    """The four cut points that reproduce :func:`quintile_score` for values of this population.

    ``thresholds[k-1]`` is the smallest (oriented) value with at least k/5 of the population strictly
    worse; a value's score is 1 + the number of thresholds it reaches. Lets partitions score against
    the whole population without seeing it.
    """
    v = np.asarray(values, dtype=float)
    key = np.sort(v if higher_is_better else -v)
    n = key.size
    below = np.searchsorted(key, key, side="left")  # strictly worse count for each sorted value
    out = []
    for k in range(1, 5):
        ok = np.nonzero(below * 5 >= k * n)[0]
        out.append(float(key[ok[0]]) if ok.size else float("inf"))
    return out


def score_with_thresholds(values: npt.ArrayLike, thresholds: Sequence[float | None],
                          higher_is_better: bool = True) -> npt.NDArray[np.int_]:
    """Scores 1-5 from :func:`quintile_thresholds`."""
    v = np.asarray(values, dtype=float)
    key = v if higher_is_better else -v
    cuts = np.asarray([np.inf if t is None else t for t in thresholds], dtype=float)  # None: JSON for inf
    return (1 + (key[:, None] >= cuts[None, :]).sum(axis=1)).astype(int)
