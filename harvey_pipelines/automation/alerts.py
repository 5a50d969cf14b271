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
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import cast

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
    config = settings.current()
    channels = ["webhook"] if config.alert_webhook_url else []
    if config.smtp_host and config.alert_email_to:
        channels.append("email")
    return channels


def deliver(alert: Alert) -> list[str]:
    """Send to every configured channel; returns the channels that took it."""
    delivered, config = [], settings.current()
    if config.alert_webhook_url:
        try:
            response = httpx.post(config.alert_webhook_url.get_secret_value(), json={"text": alert.text()}, timeout=10)
            response.raise_for_status()
            delivered.append("webhook")
        except httpx.HTTPError as exc:
            # the URL itself is a secret for Slack webhooks: name the channel, not the URL
            log.warning("alert webhook failed: %s", type(exc).__name__)
    if config.smtp_host and config.alert_email_to:
        try:
            _send_mail(alert, config)
            delivered.append("email")
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("alert email failed: %s", type(exc).__name__)
    return delivered


def _send_mail(alert: Alert, config: settings.Settings) -> None:
    message = EmailMessage()
    message["Subject"] = f"[harvey] {alert.title}: {alert.organization_id}/{alert.entity}"
    message["From"] = config.alert_email_from
    message["To"] = ", ".join(config.alert_email_to)
    message.set_content(alert.text().replace("*", ""))
    with smtplib.SMTP(cast(str, config.smtp_host), config.smtp_port, timeout=15) as smtp:
        if config.smtp_starttls:
            smtp.starttls()
        if config.smtp_user:
            password = config.smtp_password.get_secret_value() if config.smtp_password else ""
            smtp.login(config.smtp_user, password)
        smtp.send_message(message)
