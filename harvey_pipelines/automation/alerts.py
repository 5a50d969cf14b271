"""Telling on-call: a Slack-compatible webhook and email, configured from the environment.

| variable | what |
|---|---|
| HARVEY_ALERT_WEBHOOK_URL | Slack (or compatible) incoming webhook; JSON ``{"text": ...}`` |
| HARVEY_SMTP_HOST, HARVEY_SMTP_PORT (25) | mail server |
| HARVEY_ALERT_EMAIL_FROM, HARVEY_ALERT_EMAIL_TO (comma list) | sender and recipients |
| HARVEY_SMTP_USER, HARVEY_SMTP_PASSWORD, HARVEY_SMTP_STARTTLS (0/1) | optional login |

An alert carries identifiers, the first line of the error and a link, never a record or a secret.
Every alert is also kept in the warehouse table ``sync.alerts`` (see automation/retries.py), so it
is seen where no channel is configured.
"""

from __future__ import annotations

import logging
import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

import httpx

from harvey_pipelines import settings
from harvey_pipelines.sources.errors import NOT_RETRIED

log = logging.getLogger("harvey.alerts")


@dataclass(frozen=True)
class Alert:
    title: str
    organization_id: str
    entity: str
    error: str
    attempts: int | None  # None: not about a failed sync (a freshness alert)
    run_id: str | None = None
    failure_kind: str | None = None  # sources.errors.FAILURE_KINDS, or "stale" (automation/freshness.py)
    details: tuple[str, ...] = ()  # further lines, e.g. when an entity last synced and its cadence

    @property
    def partition(self) -> str:
        return self.organization_id

    @property
    def run_url(self) -> str | None:
        return f"{settings.dagster_ui_url()}/runs/{self.run_id}" if self.run_id else None

    def text(self) -> str:
        first_line = (self.error or "").strip().splitlines()[0][:500] if self.error else "(no error message)"
        lines = [
            f"*{self.title}*",
            f"organization: {self.organization_id} (partition {self.partition})",
            f"entity: {self.entity}",
        ]
        if self.attempts is not None:
            lines.append(f"attempts: {self.attempts}")
        if self.error or not self.details:
            lines.append(f"error: {first_line}")
        lines += self.details
        if self.failure_kind in NOT_RETRIED:
            lines.append(f"kind: {self.failure_kind}: not retried, no retry can fix it; fix what the error "
                         "names, the next successful sync resolves this")
        elif self.failure_kind:
            lines.append(f"kind: {self.failure_kind}")
        if self.run_id:
            lines.append(f"run: {self.run_id} <{self.run_url}>")
        return "\n".join(lines)


def configured() -> list[str]:
    """The channels the environment configures (none: alerts reach only sync.alerts and the log)."""
    channels = ["webhook"] if os.environ.get("HARVEY_ALERT_WEBHOOK_URL") else []
    if os.environ.get("HARVEY_SMTP_HOST") and os.environ.get("HARVEY_ALERT_EMAIL_TO"):
        channels.append("email")
    return channels


def deliver(alert: Alert) -> list[str]:
    """Send to every configured channel; returns the channels that took it."""
    delivered = []
    webhook = os.environ.get("HARVEY_ALERT_WEBHOOK_URL")
    if webhook:
        try:
            httpx.post(webhook, json={"text": alert.text()}, timeout=10).raise_for_status()
            delivered.append("webhook")
        except httpx.HTTPError as exc:
            # the URL itself is a secret for Slack webhooks: name the channel, not the URL
            log.warning("alert webhook failed: %s", type(exc).__name__)
    if os.environ.get("HARVEY_SMTP_HOST") and os.environ.get("HARVEY_ALERT_EMAIL_TO"):
        try:
            _send_mail(alert)
            delivered.append("email")
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("alert email failed: %s", type(exc).__name__)
    return delivered


def _send_mail(alert: Alert) -> None:
    message = EmailMessage()
    message["Subject"] = f"[harvey] {alert.title}: {alert.organization_id}/{alert.entity}"
    message["From"] = os.environ.get("HARVEY_ALERT_EMAIL_FROM", "harvey@localhost")
    message["To"] = ", ".join(a.strip() for a in os.environ["HARVEY_ALERT_EMAIL_TO"].split(",") if a.strip())
    message.set_content(alert.text().replace("*", ""))
    port = int(os.environ.get("HARVEY_SMTP_PORT", "25"))
    with smtplib.SMTP(os.environ["HARVEY_SMTP_HOST"], port, timeout=15) as smtp:
        if os.environ.get("HARVEY_SMTP_STARTTLS") == "1":
            smtp.starttls()
        if os.environ.get("HARVEY_SMTP_USER"):
            smtp.login(os.environ["HARVEY_SMTP_USER"], os.environ.get("HARVEY_SMTP_PASSWORD", ""))
        smtp.send_message(message)
