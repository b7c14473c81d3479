"""Send-time smoothing, stated overrides and deterministic exploration on hand-made events."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from storeflow.scoring.send_time import population_prior, preferred_send_times

CUSTOMERS = pd.DataFrame({
    "customer_id": ["A", "B", "C", "D"],
    "timezone": ["Europe/London", "America/New_York", None, "Europe/London"],
    "preferred_hour": [None, None, None, 7],
    "preferred_weekday": [None, None, None, None],
})
# 2026-01-06 is a Tuesday; London is on UTC in January, New York is UTC-5
EVENTS = pd.DataFrame({
    "customer_id": ["A", "A", "A", "B"],
    "at": pd.to_datetime(["2026-01-06T19:05Z", "2026-01-13T19:40Z", "2026-01-20T19:59Z", "2026-01-07T01:30Z"],
                         utc=True),
    "weight": [1.0, 1.0, 1.0, 1.0],
})
DAY = date(2026, 2, 1)


def test_local_hours_shrinkage_and_stated_override():
    out = preferred_send_times(CUSTOMERS, EVENTS, DAY, prior_strength=5.0, exploration=0.0).set_index("customer_id")
    assert out.loc["A", ["preferred_hour", "preferred_weekday", "send_time_source"]].tolist() == [19, 1, "model"]
    # B's event is Tuesday 20:30 in New York (Wednesday 01:30 UTC)
    assert out.loc["B", ["preferred_hour", "preferred_weekday", "send_time_source"]].tolist() == [20, 1, "model"]
    # C has no events: the population prior (3 events at Tue 19h, 1 at Tue 20h, Laplace smoothed)
    assert out.loc["C", ["preferred_hour", "preferred_weekday", "send_time_source"]].tolist() == [19, 1, "prior"]
    assert out.loc["D", ["preferred_hour", "send_hour", "send_time_source"]].tolist() == [7, 7, "stated"]
    assert out.loc["A", "send_time_events"] == 3.0


def test_prior_is_laplace_smoothed_population_share():
    prior = population_prior(np.array([43, 43, 43, 44]), np.ones(4))
    assert prior.sum() == pytest.approx(1.0)
    assert prior[43] == pytest.approx(4 / 172) and prior[44] == pytest.approx(2 / 172)
    assert prior[0] == pytest.approx(1 / 172)


def test_prior_strength_decides_between_one_event_and_the_population():
    one = pd.DataFrame({"customer_id": ["E"], "timezone": ["Europe/London"], "preferred_hour": [None],
                        "preferred_weekday": [None]})
    sunday_3am = pd.DataFrame({"customer_id": ["E"], "at": pd.to_datetime(["2026-01-11T03:00Z"], utc=True),
                               "weight": [1.0]})
    prior = np.full(168, 0.5 / 167)
    prior[1 * 24 + 19] = 0.5  # half of the population reads on Tuesday at 19h
    weak = preferred_send_times(one, sunday_3am, DAY, prior=prior, prior_strength=0.5, exploration=0.0)
    strong = preferred_send_times(one, sunday_3am, DAY, prior=prior, prior_strength=50.0, exploration=0.0)
    assert weak[["preferred_hour", "preferred_weekday"]].iloc[0].tolist() == [3, 6]
    assert strong[["preferred_hour", "preferred_weekday"]].iloc[0].tolist() == [19, 1]


def test_exploration_is_deterministic_within_the_window_and_spares_stated_preferences():
    many = pd.DataFrame({"customer_id": [f"c{i}" for i in range(2000)], "timezone": "Europe/London",
                         "preferred_hour": None, "preferred_weekday": None})
    a = preferred_send_times(many, EVENTS.iloc[:0], DAY, exploration=0.1, window=(8, 21))
    b = preferred_send_times(many, EVENTS.iloc[:0], DAY, exploration=0.1, window=(8, 21))
    pd.testing.assert_frame_equal(a, b)
    share = a["send_time_explore"].mean()
    assert 0.08 < share < 0.12
    explored = a[a["send_time_explore"]]
    assert explored["send_hour"].between(8, 20).all() and (explored["send_time_source"] == "explore").all()
    assert explored["send_hour"].nunique() > 8  # spread over the window, not one hour
    other_day = preferred_send_times(many, EVENTS.iloc[:0], date(2026, 2, 2), exploration=0.1)
    assert (other_day["send_time_explore"] != a["send_time_explore"]).any()
    everyone = preferred_send_times(CUSTOMERS, EVENTS, DAY, exploration=1.0).set_index("customer_id")
    assert everyone.loc[["A", "B", "C"], "send_time_explore"].all()
    assert not everyone.loc["D", "send_time_explore"] and everyone.loc["D", "send_hour"] == 7
