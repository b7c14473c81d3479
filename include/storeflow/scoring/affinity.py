"""Category affinity with recency decay: weight = spend x 0.5 ** (age_days / half_life)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from storeflow.scoring.summary import DAY_NS, _epoch_ns, as_of_ns

COLUMNS = ["customer_id", "top_category", "category_affinity"]


def category_affinity(lines: pd.DataFrame, as_of: datetime, half_life_days: float, top_n: int = 5
                      ) -> pd.DataFrame:
    """Per customer: the top category and ``{category: share}`` of the decayed spend (top ``top_n``,
    shares of the customer's total decayed spend, rounded to 4 places; ties by name).

    ``lines``: customer_id, created_at (aware), category, value (spend of the line; quantity works too).
    Lines without a category or after ``as_of`` are ignored.
    """
    if lines.empty:
        return pd.DataFrame(columns=COLUMNS)
    ts = _epoch_ns(lines["created_at"])
    age = (as_of_ns(as_of) - ts) / DAY_NS
    df = pd.DataFrame({
        "customer_id": lines["customer_id"].to_numpy(),
        "category": lines["category"].to_numpy(),
        "w": pd.to_numeric(lines["value"]).to_numpy(dtype=float) * np.power(0.5, age / half_life_days),
    })
    df = df[(age >= 0) & df["category"].notna() & (df["w"] > 0)]
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    agg = df.groupby(["customer_id", "category"], sort=False)["w"].sum().reset_index()
    agg["share"] = agg["w"] / agg.groupby("customer_id")["w"].transform("sum")
    agg = agg.sort_values(["customer_id", "share", "category"], ascending=[True, False, True])
    agg = agg.groupby("customer_id", sort=False).head(top_n)
    # one pass over the sorted arrays (a pandas groupby per customer is far slower)
    cids = agg["customer_id"].to_numpy()
    cats = agg["category"].astype(str).to_numpy()
    shares = agg["share"].round(4).to_numpy()
    starts = np.flatnonzero(np.r_[True, cids[1:] != cids[:-1]])
    ends = np.r_[starts[1:], cids.size]
    rows = [(cids[a], cats[a], dict(zip(cats[a:b].tolist(), shares[a:b].tolist(), strict=True)))
            for a, b in zip(starts, ends, strict=True)]
    return pd.DataFrame(rows, columns=COLUMNS)
