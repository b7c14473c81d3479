"""Property tests (hypothesis) of the policy pipeline over random customers, consents and histories.

The invariants are checked with independent, per-row reference logic (not the vectorised code).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storeflow.campaigns.definitions import Campaign
from storeflow.campaigns.holdout import bucket, buckets
from storeflow.campaigns.policy import PlanInputs, message_key, plan
from storeflow.campaigns.send_schedule import local_hour
from storeflow.settings import Settings

TZS = ["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Los_Angeles", None,
       "Not/AZone"]
TOPICS = ["all", "marketing", "promotions", "loyalty", "service"]
T = {"subject": "Hi {{ customer.given_name }}", "html": "<p>Hi</p>", "text": "Hi", "sms": "Hi"}
CAMPAIGNS = [
    Campaign.model_validate({"id": "promo", "topic": "promotions", "channels": ["email", "sms"],
                             "audience": "clv_365 >= 50", "offer": {"type": "discount", "percent": 10},
                             "priority": 50, "reeligibility_days": 10, "templates": T}),
    Campaign.model_validate({"id": "loyal", "topic": "loyalty", "channels": ["sms", "email"],
                             "audience": 'segment in ["Champions", "Loyal"]', "priority": 60,
                             "holdout_share": 0.2, "templates": T}),
    Campaign.model_validate({"id": "notice", "kind": "transactional", "topic": "service", "channels": ["email"],
                             "audience": "true", "priority": 10, "reeligibility_days": 0, "templates": T}),
]
BY_ID = {c.id: c for c in CAMPAIGNS}
BASE = datetime(2026, 3, 1, tzinfo=UTC)


def _settings(global_share: float, caps: tuple[int, int] = (3, 1)) -> Settings:
    return Settings(global_holdout_share=global_share, campaign_holdout_share=0.1, cap_per_7_days=caps[0],
                    cap_per_day=caps[1])


customer_st = st.fixed_dictionaries({
    "tz": st.sampled_from(TZS),
    "hour": st.one_of(st.none(), st.integers(0, 23)),
    "pref": st.sampled_from(["email", "sms", None]),
    "email": st.integers(0, 4).map(bool),
    "phone": st.integers(0, 4).map(bool),
    "segment": st.sampled_from(["Champions", "Loyal", "Hibernating"]),
    "clv": st.floats(0, 200),
    "consents": st.tuples(
        st.lists(st.tuples(st.sampled_from(["email", "sms"]), st.just("marketing"), st.just("subscribed")),
                 max_size=2),  # mostly opted in, so that messages are actually planned …
        st.lists(st.tuples(st.sampled_from(["email", "sms"]), st.sampled_from(TOPICS),  # … then overrides
                           st.sampled_from(["subscribed", "unsubscribed", "never"])), max_size=3),
    ).map(lambda parts: parts[0] + parts[1]),
    "suppressed": st.lists(st.sampled_from(["email", "sms"]), max_size=1),
    "history": st.lists(st.tuples(st.sampled_from(["promo", "loyal", "notice"]), st.sampled_from(["email", "sms"]),
                                  st.one_of(st.floats(-30, 48), st.floats(-30, 24 * 20))), max_size=5),
    "order_days_ago": st.one_of(st.none(), st.floats(0, 40)),
})


def _inputs(custs: list[dict], as_of: datetime, history: pd.DataFrame) -> PlanInputs:
    ids = [f"K{i}" for i in range(len(custs))]
    frame = pd.DataFrame({
        "customer_id": ids,
        "timezone": [c["tz"] for c in custs],
        "preferred_hour": [np.nan if c["hour"] is None else c["hour"] for c in custs],
        "preferred_channel": [c["pref"] for c in custs],
        "email": [f"{i}@x.org" if c["email"] else None for i, c in zip(ids, custs, strict=True)],
        "phone": ["+447700900123" if c["phone"] else None for c in custs],
        "segment": [c["segment"] for c in custs],
        "clv_365": [c["clv"] for c in custs],
    })
    cons = {}
    for i, c in zip(ids, custs, strict=True):
        for ch, topic, status in c["consents"]:
            cons[(i, ch, topic)] = status  # primary key: last one wins
    consents = pd.DataFrame([{"customer_id": k[0], "channel": k[1], "topic": k[2], "status": v}
                             for k, v in cons.items()], columns=["customer_id", "channel", "topic", "status"])
    supp = pd.DataFrame([{"customer_id": i, "channel": ch} for i, c in zip(ids, custs, strict=True)
                         for ch in c["suppressed"]], columns=["customer_id", "channel"])
    orders = pd.DataFrame([{"customer_id": i, "last_order_at": BASE - timedelta(days=c["order_days_ago"])}
                           for i, c in zip(ids, custs, strict=True) if c["order_days_ago"] is not None],
                          columns=["customer_id", "last_order_at"])
    return PlanInputs(customers=frame, consents=consents, suppressions=supp, history=history, last_orders=orders)


def _initial_history(custs: list[dict]) -> pd.DataFrame:
    rows = []
    for i, c in enumerate(custs):
        for cid, ch, hours_ago in c["history"]:
            rows.append({"customer_id": f"K{i}", "campaign_id": cid, "channel": ch, "kind": BY_ID[cid].kind,
                         "send_at": BASE - timedelta(hours=hours_ago), "state": "sent"})
    return pd.DataFrame(rows, columns=["customer_id", "campaign_id", "channel", "kind", "send_at", "state"])


def _consent_ok(statuses: dict[str, str], topic: str, kind: str) -> bool:
    # reference semantics, written independently of policy.consent_allows
    if kind == "transactional":
        covering = ["all", topic]
        return all(statuses.get(t) != "unsubscribed" for t in covering)
    covering = {"all", "marketing", topic}
    if any(statuses.get(t) == "unsubscribed" for t in covering):
        return False
    return any(statuses.get(t) == "subscribed" for t in covering)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(custs=st.lists(customer_st, min_size=1, max_size=25),
       steps=st.lists(st.floats(0.5, 60), min_size=1, max_size=3),
       start_hour=st.floats(0, 24 * 14),
       global_share=st.sampled_from([0.0, 0.3]),
       caps=st.sampled_from([(3, 1), (2, 2), (3, 2)]))
def test_policy_invariants(custs, steps, start_hour, global_share, caps):
    s = _settings(global_share, caps)
    history = _initial_history(custs)
    as_of = BASE + timedelta(hours=start_hour)
    new_rows = []
    for step in steps:
        inputs = _inputs(custs, as_of, history)
        result = plan(CAMPAIGNS, inputs, as_of, s)
        msgs = result.messages.assign(state="planned", planned_at=as_of)
        # --- at most one marketing message per customer per run (arbitration)
        mk = msgs[msgs["kind"] == "marketing"]
        assert not mk["customer_id"].duplicated().any()
        for m in msgs.itertuples():
            i = int(m.customer_id[1:])
            c = custs[i]
            statuses = {}
            for ch, topic, status in c["consents"]:
                if ch == m.channel:
                    statuses[topic] = status
            assert m.message_key == message_key(m.campaign_id, m.customer_id, m.trigger_window)
            # consent per channel and topic; address present; not suppressed
            assert _consent_ok(statuses, m.topic, m.kind), (m, statuses)
            assert (c["email"] if m.channel == "email" else c["phone"])
            assert m.channel not in c["suppressed"]
            # quiet hours, in the customer's zone; never before the run
            start, end = s.quiet_hours_email if m.channel == "email" else s.quiet_hours_sms
            assert start <= local_hour(m.send_at.to_pydatetime(), c["tz"]) < end
            assert m.send_at >= pd.Timestamp(as_of)
            assert m.send_at <= pd.Timestamp(as_of + timedelta(hours=48))
            if m.kind == "marketing":
                # holdouts are never messaged
                assert bucket(m.customer_id, "global", s.holdout_salt) >= s.global_holdout_share
                share = BY_ID[m.campaign_id].effective_holdout_share(s)
                assert bucket(m.customer_id, m.campaign_id, s.holdout_salt) >= share
                # post-purchase cooldown for discounts
                if BY_ID[m.campaign_id].offer.is_discount and c["order_days_ago"] is not None:
                    last_order = BASE - timedelta(days=c["order_days_ago"])
                    assert last_order <= as_of - timedelta(days=s.discount_cooldown_days)
                # smart sending against everything known at planning time
                h = s.smart_sending_hours_email if m.channel == "email" else s.smart_sending_hours_sms
                prior = history[(history["customer_id"] == m.customer_id) & (history["channel"] == m.channel)]
                gaps = (m.send_at - pd.to_datetime(prior["send_at"], utc=True)).abs()
                assert (gaps >= pd.Timedelta(hours=h)).all()
                # re-eligibility
                days = BY_ID[m.campaign_id].effective_reeligibility_days(s)
                same = history[(history["customer_id"] == m.customer_id) & (history["campaign_id"] == m.campaign_id)]
                gaps = (m.send_at - pd.to_datetime(same["send_at"], utc=True)).abs()
                assert (gaps >= pd.Timedelta(days=days)).all()
        new_rows.append(msgs)
        history = pd.concat([history, msgs[["customer_id", "campaign_id", "channel", "kind", "send_at", "state"]]],
                            ignore_index=True)
        as_of = as_of + timedelta(hours=step)
    # --- caps across channels over every rolling window containing a new marketing message
    new = pd.concat(new_rows, ignore_index=True)
    allmk = history[history["kind"] == "marketing"].copy()
    allmk["t"] = pd.to_datetime(allmk["send_at"], utc=True)
    for m in new[new["kind"] == "marketing"].itertuples():
        times = sorted(allmk.loc[allmk["customer_id"] == m.customer_id, "t"])
        for span, cap in ((pd.Timedelta(days=7), s.cap_per_7_days), (pd.Timedelta(days=1), s.cap_per_day)):
            for end in [t for t in times if m.send_at <= t < m.send_at + span]:
                count = sum(1 for t in times if end - span < t <= end)
                assert count <= cap, (m.customer_id, span, times)


@settings(max_examples=30, deadline=None)
@given(salt=st.text(min_size=1, max_size=20), share=st.floats(0.02, 0.5), scope=st.sampled_from(["global", "promo"]))
def test_holdout_assignment_is_deterministic_and_close_to_share(salt, share, scope):
    ids = np.array([f"cust-{i}" for i in range(20000)], dtype=object)
    first = buckets(ids, scope, salt)
    assert np.array_equal(first, buckets(ids.copy(), scope, salt))
    assert bucket("cust-17", scope, salt) == first[17]
    assert ((first >= 0) & (first < 1)).all()
    frac = float((first < share).mean())
    sd = (share * (1 - share) / len(ids)) ** 0.5
    assert abs(frac - share) < 6 * sd
    # scopes are independent: campaign holdouts are not the global holdout again
    other = buckets(ids, scope + "x", salt)
    both = float(((first < share) & (other < share)).mean())
    assert abs(both - share * share) < 6 * (share * share / len(ids)) ** 0.5 + 0.002


def test_planning_is_deterministic():
    rng = np.random.default_rng(3)
    custs = [{"tz": "Europe/London", "hour": int(rng.integers(0, 24)), "pref": None, "email": True, "phone": True,
              "segment": "Champions", "clv": 100.0,
              "consents": [("email", "marketing", "subscribed"), ("sms", "marketing", "subscribed")],
              "suppressed": [], "history": [], "order_days_ago": None} for _ in range(200)]
    as_of = BASE + timedelta(hours=10)
    a = plan(CAMPAIGNS, _inputs(custs, as_of, _initial_history(custs)), as_of, _settings(0.1))
    b = plan(CAMPAIGNS, _inputs(custs, as_of, _initial_history(custs)), as_of, _settings(0.1))
    pd.testing.assert_frame_equal(a.messages, b.messages)
    assert a.stats["loyal"]["excluded"]["global_holdout"] > 0
    assert a.stats["loyal"]["excluded"]["campaign_holdout"] > 0
    # the transactional notice ignores holdouts and arbitration
    assert a.stats["notice"]["planned"] == 200


@pytest.mark.parametrize("as_of_hour,pref,expect_hour,held", [
    (10, None, 10, False), (5, None, 8, True), (22, None, 8, True), (10, 14, 14, False), (10, 6, 8, True),
    (10, 23, 8, True),
])
def test_send_time_examples(as_of_hour, pref, expect_hour, held):
    from storeflow.campaigns.send_schedule import next_send_time

    now = datetime(2026, 7, 1, as_of_hour, 30, tzinfo=UTC)  # London = UTC+1 in July
    when, was_held = next_send_time(now - timedelta(hours=1), "Europe/London", pref, (8, 21))
    assert local_hour(when, "Europe/London") == expect_hour
    assert was_held is held
    assert when >= now - timedelta(hours=1)
