"""Campaigns: definitions, audience rules, policy, holdouts, send time, outbox, senders, opt-outs, uplift.

Entry points for the DAGs (import lazily from the submodules to keep DAG parsing light):

* :func:`storeflow.campaigns.planner.plan_campaigns` — ``plan_campaigns(engine, as_of, campaigns_dir,
  scores=None, events=None) -> PlanSummary``
* :func:`storeflow.campaigns.outbox.dispatch_due` — ``dispatch_due(engine, now, limit=1000, senders=None)
  -> DispatchSummary``
* :func:`storeflow.campaigns.measurement.measure_campaigns` — ``measure_campaigns(engine, as_of, landing)
  -> dict``
* :func:`storeflow.campaigns.optouts.process_inbound_sms` / :func:`storeflow.endpoints.create_unsubscribe_app`
"""

from __future__ import annotations

from pathlib import Path

BUILTIN_CAMPAIGNS_DIR = Path(__file__).resolve().parents[2] / "campaigns"


def __getattr__(name: str):
    if name == "plan_campaigns":
        from storeflow.campaigns.planner import plan_campaigns

        return plan_campaigns
    if name == "dispatch_due":
        from storeflow.campaigns.outbox import dispatch_due

        return dispatch_due
    if name == "measure_campaigns":
        from storeflow.campaigns.measurement import measure_campaigns

        return measure_campaigns
    raise AttributeError(name)
