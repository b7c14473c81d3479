"""Failure, freshness, data-quality and drift alerts, one per incident, with a recovery message.

An *incident* is keyed (e.g. ``sync_catalog.push_changes`` or ``freshness.pos_orders``); the first
failure opens it and sends one alert on every configured channel; further failures of the same key
only bump a counter (no alert storm from hourly retries); the next success closes it and sends one
recovery message. Channels: a Slack incoming webhook (JSON ``{"text", "blocks"}``) and email over SMTP.
Webhook URLs and SMTP passwords are secrets: they are never logged or included in messages. Alert texts
never carry personal data either: every title, line and link is passed through
:func:`storeflow.redaction.redact` (emails and phone numbers masked) before it is stored or sent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Protocol

import requests
from sqlalchemy import Engine, and_, insert, select, update

from storeflow.redaction import redact
from storeflow.resources import SmtpConfig
from storeflow.smtp_relay import connect_smtp
from storeflow.warehouse.schema import alert_incidents

log = logging.getLogger(__name__)
DEFAULT_ALERT_FROM = "storeflow@localhost"


@dataclass
class Alert:
    """What one alert says."""

    key: str  # incident key
    kind: str  # sync_failure | freshness | dq_critical | drift
    title: str
    lines: dict[str, str] = field(default_factory=dict)  # ordered facts: DAG, task, try, error, log...
    link: str | None = None

    def redacted(self) -> Alert:
        """The same alert with personal data (emails, phone numbers) masked in title, lines and link."""
        return Alert(key=self.key, kind=self.kind, title=redact(self.title),
                     lines={str(k): redact(v) for k, v in self.lines.items()},
                     link=redact(self.link) if self.link else None)

    def text(self) -> str:
        """Title, one ``key: value`` line per fact and the link (redacted)."""
        safe = self.redacted()
        body = "\n".join(f"{k}: {v}" for k, v in safe.lines.items())
        link = f"\nLog: {safe.link}" if safe.link else ""
        return f"{safe.title}\n{body}{link}"


class Channel(Protocol):
    """Somewhere alerts go."""

    def send(self, alert: Alert, *, recovery: bool) -> None: ...


class SlackWebhookChannel:
    """Posts to a Slack incoming webhook."""

    def __init__(self, webhook_url: str, timeout: float = 10.0):
        self._url = webhook_url
        self._timeout = timeout

    def send(self, alert: Alert, *, recovery: bool) -> None:  # noqa: D102
        alert = alert.redacted()
        emoji = ":white_check_mark:" if recovery else ":rotating_light:"
        fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in alert.lines.items()]
        blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}}]
        if fields:
            blocks.append({"type": "section", "fields": fields[:10]})
        if alert.link:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"<{alert.link}|Open the log>"}})
        payload = {"text": f"{emoji} {alert.text()}", "blocks": blocks}
        response = requests.post(self._url, data=json.dumps(payload),
                                 headers={"Content-Type": "application/json"}, timeout=self._timeout)
        if response.status_code >= 300:
            raise RuntimeError(f"Slack webhook answered HTTP {response.status_code}")


class EmailChannel:
    """Sends alerts through the SMTP relay of a :class:`storeflow.resources.SmtpConfig`.

    Sender and recipients are the config's ``alert_from`` / ``alert_to`` (the ``storeflow_smtp``
    connection's ``extra.from`` / ``extra.to``); TLS and login as for campaign email.
    """

    def __init__(self, config: SmtpConfig, timeout: float = 15.0):
        if not config.alert_to:
            raise ValueError(f"connection {config.conn_id}: no alert recipients (extra.to)")
        self.config, self.timeout = config, timeout
        self.sender = config.alert_from or DEFAULT_ALERT_FROM
        self.recipients = list(config.alert_to)

    def send(self, alert: Alert, *, recovery: bool) -> None:  # noqa: D102
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Subject"] = ("[storeflow] RESOLVED " if recovery else "[storeflow] ") + redact(alert.title)
        msg["X-Storeflow-Incident"] = alert.key
        msg.set_content(alert.text())
        c = self.config
        with connect_smtp(c.host, c.port, security=c.security, username=c.username, password=c.password,
                          ca_bundle=c.ca_bundle, timeout=self.timeout) as smtp:
            smtp.send_message(msg)


def _deliver(channels: list[Channel], alert: Alert, recovery: bool) -> int:
    sent = 0
    for channel in channels:
        try:
            channel.send(alert, recovery=recovery)
            sent += 1
        except Exception as exc:  # one broken channel must not hide the alert on the others
            log.error("alert channel %s failed: %s", type(channel).__name__, exc)
    return sent


def raise_alert(engine: Engine, alert: Alert, channels: list[Channel], now: datetime | None = None) -> bool:
    """Open (and announce) the incident ``alert.key``, or count a repeat; True if an alert was sent.

    The alert is redacted first (no emails or phone numbers in the incident row or any channel).
    """
    alert = alert.redacted()
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        open_id = conn.execute(
            select(alert_incidents.c.id).where(
                and_(alert_incidents.c.incident_key == alert.key, alert_incidents.c.resolved_at.is_(None))
            )
        ).scalar_one_or_none()
        if open_id is not None:
            conn.execute(
                update(alert_incidents).where(alert_incidents.c.id == open_id)
                .values(last_seen_at=now, occurrences=alert_incidents.c.occurrences + 1)
            )
            log.info("incident %s still open; alert not repeated", alert.key)
            return False
        conn.execute(insert(alert_incidents).values(
            incident_key=alert.key, kind=alert.kind, title=alert.title, opened_at=now, last_seen_at=now,
            occurrences=1, details={**alert.lines, "link": alert.link},
        ))
    _deliver(channels, alert, recovery=False)
    log.warning("incident %s opened: %s", alert.key, alert.title)
    return True


def resolve_alert(engine: Engine, key: str, channels: list[Channel], now: datetime | None = None,
                  note: str | None = None) -> bool:
    """Close the open incident ``key`` (if any) and send one recovery message; True if one was sent."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        row = conn.execute(
            select(alert_incidents).where(
                and_(alert_incidents.c.incident_key == key, alert_incidents.c.resolved_at.is_(None))
            )
        ).first()
        if row is None:
            return False
        conn.execute(update(alert_incidents).where(alert_incidents.c.id == row.id).values(resolved_at=now))
    lines = {"Incident": key, "Open since": row.opened_at.isoformat(), "Failures": str(row.occurrences)}
    if note:
        lines["Note"] = note
    recovered = Alert(key=key, kind=row.kind, title=f"Recovered: {row.title}", lines=lines).redacted()
    _deliver(channels, recovered, recovery=True)
    log.info("incident %s resolved", key)
    return True


def quarantine_alert(engine: Engine, *, stream: str, quarantined: int, by_reason: dict[str, int], run_id: str,
                     channels: list[Channel], link: str | None = None) -> bool:
    """Tell the team when a run quarantined records, once per stream until its quarantine is empty again.

    A run below the bad-row threshold succeeds; this is how the rows it left out still reach a person. The
    incident ``quarantine.<stream>`` opens with the first quarantined record, counts later runs, and resolves
    (one recovery message) when a run finds nothing open left for the stream. True if a message was sent.
    """
    from sqlalchemy import func

    from storeflow.warehouse.schema import quarantine

    key = f"quarantine.{stream}"
    if quarantined:
        reasons = ", ".join(f"{rule}={n}" for rule, n in sorted(by_reason.items(), key=lambda kv: -kv[1])) or "-"
        return raise_alert(engine, Alert(
            key=key, kind="quarantine", title=f"storeflow quarantined {quarantined} {stream} record(s)",
            lines={"Stream": stream, "Run": run_id, "By reason": reasons,
                   "Where": "table quarantine / the storeflow Quarantine page (source ids and reasons)"},
            link=link), channels)
    with engine.connect() as conn:
        still_open = conn.execute(select(func.count()).select_from(quarantine).where(
            quarantine.c.stream == stream, quarantine.c.resolved_at.is_(None))).scalar_one()
    if still_open:
        return False
    return resolve_alert(engine, key, channels, note="nothing of this stream is left in quarantine")
