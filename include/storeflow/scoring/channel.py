"""Preferred channel: consent first, then stated preference, then engagement, then cost.

1. Only channels the customer has a ``subscribed`` marketing consent for (and a contact point: email
   address / phone number) are candidates; none -> ``None`` (reason ``no_consent``); one -> it
   (``only_consented``).
2. A stated preference among the candidates wins (``stated``).
3. Otherwise the channel with the highest smoothed engagement rate (engaged + 1) / (sent + 2) wins
   (``engagement``) when it is strictly higher than every other candidate's.
4. Otherwise the cheapest channel per message (``cost``; ties by name).
"""

from __future__ import annotations

import pandas as pd

CHANNELS = ("email", "sms")
COLUMNS = ["customer_id", "preferred_channel", "channel_reason"]


def preferred_channels(customers: pd.DataFrame, consents: pd.DataFrame, engagement: pd.DataFrame | None,
                       cost: dict[str, float], topic: str = "marketing") -> pd.DataFrame:
    """One row per customer. ``customers``: customer_id, preferred_channel, email, phone;
    ``consents``: customer_id, channel, topic, status; ``engagement``: customer_id, channel, sent, engaged."""
    subscribed = consents[(consents["status"] == "subscribed") & (consents["topic"] == topic)
                          & consents["channel"].isin(CHANNELS)]
    consented: dict[str, set[str]] = {}
    for cid, ch in zip(subscribed["customer_id"], subscribed["channel"], strict=True):
        consented.setdefault(cid, set()).add(ch)
    rates: dict[tuple[str, str], float] = {}
    if engagement is not None and len(engagement):
        for cid, ch, sent, eng in zip(engagement["customer_id"], engagement["channel"], engagement["sent"],
                                      engagement["engaged"], strict=True):
            rates[(cid, ch)] = (float(eng) + 1.0) / (float(sent) + 2.0)
    n = len(customers)

    def _col(name: str) -> list[object] | None:
        return customers[name].tolist() if name in customers else None

    # a contact column that is absent is not checked; a present one must hold a non-empty value
    contact = {"email": _col("email"), "sms": _col("phone")}

    def _reachable(ch: str, pos: int) -> bool:
        col = contact[ch]
        if col is None:
            return True
        value = col[pos]
        return isinstance(value, str) and bool(value.strip())

    stated = _col("preferred_channel") or [None] * n
    out_channel, out_reason = [], []
    for pos, cid in enumerate(customers["customer_id"].tolist()):
        cands = {ch for ch in consented.get(cid, ()) if _reachable(ch, pos)}
        pref = stated[pos]
        if not cands:
            choice, reason = None, "no_consent"
        elif len(cands) == 1:
            choice, reason = next(iter(cands)), "only_consented"
        elif isinstance(pref, str) and pref in cands:
            choice, reason = pref, "stated"
        else:
            scored = sorted(((rates.get((cid, ch), 0.5), ch) for ch in cands), reverse=True)
            if scored[0][0] > scored[1][0]:
                choice, reason = scored[0][1], "engagement"
            else:
                best = scored[0][0]
                tied = [ch for r, ch in scored if r == best]
                choice = min(tied, key=lambda ch: (cost.get(ch, float("inf")), ch))
                reason = "cost"
        out_channel.append(choice)
        out_reason.append(reason)
    return pd.DataFrame({"customer_id": customers["customer_id"].to_numpy(),
                         "preferred_channel": out_channel, "channel_reason": out_reason})
