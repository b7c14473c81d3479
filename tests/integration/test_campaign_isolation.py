"""One poisoned campaign file, rule or template disables that campaign only; the others still plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select

from storeflow.campaigns.planner import plan_campaigns
from storeflow.campaigns.rules import RuleError, parse_rule
from storeflow.campaigns.templates import TemplateProblem, render
from storeflow.settings import get_settings
from storeflow.warehouse.schema import campaign_runs, consents, customers

AS_OF = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GOOD = """
id: good
topic: loyalty
channels: [email]
audience: segment == "Champions"
holdout_share: 0
templates: {subject: "Hi {{ customer.given_name }}", html: "<p>Hi</p>", text: "Hi"}
"""


def _campaign(cid: str, audience: str = 'segment == "Champions"', subject: str = "Hi") -> str:
    return (f"id: {cid}\ntopic: loyalty\nchannels: [email]\naudience: '{audience}'\nholdout_share: 0\n"
            f"templates: {{subject: \"{subject}\", html: \"<p>Hi</p>\", text: \"Hi\"}}\n")


POISON = {
    "deep.yaml": _campaign("deep", "(" * 150 + "true" + ")" * 150),
    "huge_range.yaml": _campaign("huge_range", subject="{{ range(10**9)|list }}"),
    "huge_string.yaml": _campaign("huge_string", subject="{{ ('x'*10**10) }}"),
    "huge_power.yaml": _campaign("huge_power", subject="{{ 9**(9**9) }}"),
    "abs_text.yaml": _campaign("abs_text", "abs(\"x\") > 1"),
    "mismatch.yaml": _campaign("mismatch", "segment > 5"),
}


@pytest.mark.timeout(120)
def test_poisoned_campaigns_leave_the_others_planning(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("STOREFLOW_GLOBAL_HOLDOUT_SHARE", "0")
    get_settings.cache_clear()
    folder = tmp_path / "campaigns"
    folder.mkdir()
    (folder / "good.yaml").write_text(GOOD)
    for name, text in POISON.items():
        (folder / name).write_text(text)
    loaded = AS_OF - timedelta(days=30)
    with warehouse.begin() as conn:
        conn.execute(customers.insert(), [{"customer_id": f"C{i}", "email": f"c{i}@example.org", "given_name": "A",
                                           "timezone": "Europe/London", "loaded_at": loaded} for i in range(3)])
        conn.execute(consents.insert(), [{"customer_id": f"C{i}", "channel": "email", "topic": "marketing",
                                          "status": "subscribed", "changed_at": loaded} for i in range(3)])
    scores = pd.DataFrame({"customer_id": ["C0", "C1", "C2"], "segment": "Champions"})
    summary = plan_campaigns(warehouse, AS_OF, folder, scores=scores)
    assert summary.campaigns["good"]["planned"] == 3
    errors = "\n".join(summary.errors)
    for name in ("deep.yaml", "huge_range.yaml", "huge_string.yaml", "huge_power.yaml"):
        assert name in errors, errors  # rejected at load, with the file named
    assert "deep.yaml: audience" in errors and "nested deeper" in errors
    assert "huge_power.yaml: templates" in errors
    for cid in ("abs_text", "mismatch"):  # parse fine, fail at evaluation: disabled for this run only
        assert f"{cid}: audience: rule cannot be evaluated" in errors or f"{cid}: audience: type mismatch" in errors
    with warehouse.connect() as conn:
        runs = dict(conn.execute(select(campaign_runs.c.campaign_id, campaign_runs.c.error)).all())
    assert runs["good"] is None and runs["abs_text"] and runs["mismatch"]


def test_rule_depth_and_evaluation_limits():
    with pytest.raises(RuleError, match="nested deeper"):
        parse_rule("not " * 100 + "true")
    with pytest.raises(RuleError, match="nested deeper"):
        parse_rule("-" * 100 + "1 > 0")
    assert parse_rule("(" * 20 + "true" + ")" * 20).evaluate(pd.DataFrame({"a": [1]})).tolist() == [True]
    with pytest.raises(RuleError, match="cannot be evaluated"):
        parse_rule('abs("x") > 1').evaluate(pd.DataFrame({"a": [1]}))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("source", [
    "{{ range(10**9)|list }}", "{{ ('x'*10**10) }}", "{{ 9**(9**9) }}", "{{ [0]*10**9 }}",
    "{% for i in range(100000) %}{{ 'x' * 10 }}{% endfor %}", "{{ ''.__class__.__mro__ }}x{{ 1/0 }}",
])
def test_templates_render_within_limits(source):
    with pytest.raises(TemplateProblem):
        render(source, {})


def test_ordinary_templates_still_render():
    assert render("{{ 2**10 }} {{ 'ab'*3 }} {{ range(3)|list }}", {}) == "1024 ababab [0, 1, 2]"
