"""Preferred channel rules: consent, then stated preference, then engagement, then cost."""

from __future__ import annotations

import pandas as pd

from storeflow.scoring.channel import preferred_channels

COST = {"email": 0.001, "sms": 0.04}


def test_channel_rules_in_order():
    customers = pd.DataFrame([
        ("both_nothing", "a@x", "+1", None),
        ("both_prefers_sms", "a@x", "+1", "sms"),
        ("sms_only_prefers_email", "a@x", "+1", "email"),
        ("no_consent", "a@x", "+1", "email"),
        ("both_engages_sms", "a@x", "+1", None),
        ("email_consent_no_address", None, "+1", None),
        ("email_unsubscribed", "a@x", "+1", "email"),
        ("engagement_tie", "a@x", "+1", None),
    ], columns=["customer_id", "email", "phone", "preferred_channel"])
    sub = [("both_nothing", "email"), ("both_nothing", "sms"), ("both_prefers_sms", "email"),
           ("both_prefers_sms", "sms"), ("sms_only_prefers_email", "sms"), ("both_engages_sms", "email"),
           ("both_engages_sms", "sms"), ("email_consent_no_address", "email"), ("email_consent_no_address", "sms"),
           ("email_unsubscribed", "sms"), ("engagement_tie", "email"), ("engagement_tie", "sms")]
    consents = pd.DataFrame([(c, ch, "marketing", "subscribed") for c, ch in sub]
                            + [("email_unsubscribed", "email", "marketing", "unsubscribed"),
                               ("no_consent", "email", "transactional", "subscribed"),
                               ("no_consent", "sms", "marketing", "never")],
                            columns=["customer_id", "channel", "topic", "status"])
    engagement = pd.DataFrame([
        ("both_engages_sms", "sms", 10, 5), ("both_engages_sms", "email", 10, 1),
        ("engagement_tie", "email", 2, 1),  # (1+1)/(2+2) = 0.5, same as no sms data (1/2)
    ], columns=["customer_id", "channel", "sent", "engaged"])
    out = preferred_channels(customers, consents, engagement, COST).set_index("customer_id")
    expected = {
        "both_nothing": ("email", "cost"),
        "both_prefers_sms": ("sms", "stated"),
        "sms_only_prefers_email": ("sms", "only_consented"),
        "no_consent": (None, "no_consent"),
        "both_engages_sms": ("sms", "engagement"),
        "email_consent_no_address": ("sms", "only_consented"),
        "email_unsubscribed": ("sms", "only_consented"),
        "engagement_tie": ("email", "cost"),
    }
    got = {cid: (None if pd.isna(row.preferred_channel) else row.preferred_channel, row.channel_reason)
           for cid, row in out.iterrows()}
    assert got == expected


def test_cost_decides_ties_and_can_be_configured():
    customers = pd.DataFrame({"customer_id": ["x"], "email": ["a@x"], "phone": ["+1"], "preferred_channel": [None]})
    consents = pd.DataFrame({"customer_id": ["x", "x"], "channel": ["email", "sms"], "topic": "marketing",
                             "status": "subscribed"})
    out = preferred_channels(customers, consents, None, {"email": 0.5, "sms": 0.1})
    assert out.iloc[0].tolist() == ["x", "sms", "cost"]
