"""Campaigns: definitions, audience rules, policy, holdouts, send time, outbox, senders, opt-outs, uplift.

Entry points for the DAGs (import them from their submodules, lazily, to keep DAG parsing light):

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

