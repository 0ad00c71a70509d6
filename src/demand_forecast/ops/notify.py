"""Failure (and optional success) notifications for the batch run, standard library only.

Channels are configured through environment variables and are all off by default:

=============================== =============================================================
``DEMAND_ALERT_WEBHOOK_URL``    POST ``{"text": ...}`` as JSON (Slack incoming webhook; Teams
                                incoming webhooks accept the same body). Timeout 10 s.
``DEMAND_ALERT_SMTP_HOST``      SMTP server; enables e-mail.
``DEMAND_ALERT_SMTP_PORT``      default 25.
``DEMAND_ALERT_EMAIL_FROM``     sender address; default ``demand-forecast@<hostname>``.
``DEMAND_ALERT_EMAIL_TO``       recipients, comma separated (required with the host).
``DEMAND_ALERT_SMTP_USER``      optional login ...
``DEMAND_ALERT_SMTP_PASSWORD``  ... and password.
``DEMAND_ALERT_SMTP_STARTTLS``  0/1, upgrade the connection with STARTTLS (default 0).
``DEMAND_ALERT_SMTP_SSL``       0/1, implicit TLS from the first byte, usually port 465
                                (default 0).
``DEMAND_ALERT_ON_SUCCESS``     0/1, also notify when a run succeeds (default 0).
=============================== =============================================================

Sending never raises: each channel's outcome is returned as a :class:`DeliveryResult` and
failures are logged (logger ``demand_forecast.ops.notify``), so a broken alert channel can not
mask the error that was being reported. A *misconfiguration* (e.g. a non-numeric port) is
reported by :meth:`Notifier.from_env` with :class:`NotifyConfigError` when the batch
starts, because an alert channel that silently turns itself off is worse than none.
"""

from __future__ import annotations

import email.policy
import email.utils
import json
import logging
import os
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

__all__ = [
    "Message",
    "DeliveryResult",
    "Channel",
    "WebhookChannel",
    "EmailChannel",
    "Notifier",
    "NotifyConfigError",
    "ENV_PREFIX",
]

logger = logging.getLogger(__name__)

ENV_PREFIX = "DEMAND_ALERT_"
DEFAULT_TIMEOUT_S = 10.0
_MAX_LINE_CHARS = 400
_MAX_WEBHOOK_CHARS = 12_000  # Slack truncates long text; Teams rejects bodies > ~28 KB


class NotifyConfigError(ValueError):
    """A ``DEMAND_ALERT_*`` environment variable has an invalid value."""


@dataclass(frozen=True)
class Message:
    """What to tell people. ``log_tail`` is rendered as a code block / quoted section."""

    subject: str
    text: str
    log_tail: Sequence[str] = ()
    success: bool = False


@dataclass(frozen=True)
class DeliveryResult:
    channel: str
    ok: bool
    error: str | None = None
    duration_s: float = 0.0


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> None:
        """Deliver the message or raise."""


def _clip_lines(lines: Sequence[str]) -> list[str]:
    out = []
    for line in lines:
        line = line.rstrip("\r\n")
        if len(line) > _MAX_LINE_CHARS:
            line = line[: _MAX_LINE_CHARS - 3] + "..."
        out.append(line)
    return out


def _slack_escape(text: str) -> str:
    # Slack interprets <...> as links/mentions (e.g. <!channel>); & < > must be escaped.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class WebhookChannel:
    """POST ``{"text": ...}`` (Slack-compatible; Teams incoming webhooks accept it too)."""

    name = "webhook"

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_S):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise NotifyConfigError(f"{ENV_PREFIX}WEBHOOK_URL must be an http(s) URL, got {url!r}")
        self.url = url
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the URL: webhook URLs are secrets
        host = urllib.parse.urlsplit(self.url).hostname
        return f"WebhookChannel(host={host!r}, timeout={self.timeout})"

    def render(self, message: Message) -> str:
        parts = [f"*{_slack_escape(message.subject)}*", _slack_escape(message.text)]
        tail = _clip_lines(message.log_tail)
        if tail:
            budget = _MAX_WEBHOOK_CHARS - sum(len(p) + 1 for p in parts) - 40
            kept: list[str] = []
            for line in reversed(tail):  # keep the newest lines when over budget
                budget -= len(line) + 1
                if budget < 0:
                    break
                kept.append(line)
            kept.reverse()
            parts.append(f"Last {len(kept)} log lines:\n```\n" + _slack_escape("\n".join(kept)) + "\n```")
        return "\n".join(parts)

    def send(self, message: Message) -> None:
        body = json.dumps({"text": self.render(message)}).encode("utf-8")
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "demand-forecast-batch/1"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
                response.read(1024)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip() if exc.fp else ""
            raise RuntimeError(f"webhook answered HTTP {exc.code} {detail}".strip()) from None
        if not 200 <= status < 300:
            raise RuntimeError(f"webhook answered HTTP {status}")


class EmailChannel:
    """Plain-text e-mail through an SMTP relay (optional STARTTLS / implicit TLS / login)."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str,
        recipients: Sequence[str],
        user: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        timeout: float = DEFAULT_TIMEOUT_S,
    ):
        if not recipients:
            raise NotifyConfigError("e-mail notifications need at least one recipient")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.user = user
        self.password = password
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.timeout = timeout

    def __repr__(self) -> str:
        return (
            f"EmailChannel(host={self.host!r}, port={self.port}, sender={self.sender!r}, "
            f"recipients={self.recipients!r}, user={self.user!r}, starttls={self.starttls}, "
            f"use_ssl={self.use_ssl})"
        )

    def build(self, message: Message) -> EmailMessage:
        # 7bit: non-ASCII log lines are sent quoted-printable/base64, which every relay accepts.
        msg = EmailMessage(policy=email.policy.SMTP.clone(cte_type="7bit"))
        msg["Subject"] = message.subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = email.utils.make_msgid(domain=_hostname())
        body = message.text.rstrip("\n") + "\n"
        tail = _clip_lines(message.log_tail)
        if tail:
            body += f"\n----- last {len(tail)} log lines -----\n" + "\n".join(tail) + "\n"
        msg.set_content(body)
        return msg

    def send(self, message: Message) -> None:
        msg = self.build(message)
        if self.use_ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            smtp.ehlo_or_helo_if_needed()
            if self.starttls and not self.use_ssl:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password or "")
            refused = smtp.send_message(msg, from_addr=self.sender, to_addrs=self.recipients)
        if refused:
            raise RuntimeError(f"SMTP server refused recipients: {sorted(refused)}")


def _hostname() -> str:
    try:
        return socket.gethostname() or "localhost"
    except OSError:
        return "localhost"


def _flag(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = environ.get(ENV_PREFIX + name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise NotifyConfigError(f"{ENV_PREFIX}{name} must be 0 or 1, got {raw!r}")


@dataclass
class Notifier:
    """Sends a :class:`Message` to every configured channel; never raises while sending."""

    channels: list = field(default_factory=list)
    notify_on_success: bool = False
    subject_prefix: str = "[demand-forecast]"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """Build the channels from ``DEMAND_ALERT_*`` variables (see module docstring)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            return (env.get(ENV_PREFIX + name) or "").strip()

        channels: list = []
        url = get("WEBHOOK_URL")
        if url:
            channels.append(WebhookChannel(url))

        host = get("SMTP_HOST")
        if host:
            port_raw = get("SMTP_PORT") or "25"
            try:
                port = int(port_raw)
            except ValueError:
                raise NotifyConfigError(f"{ENV_PREFIX}SMTP_PORT must be a number, got {port_raw!r}") from None
            if not 0 < port < 65536:
                raise NotifyConfigError(f"{ENV_PREFIX}SMTP_PORT out of range: {port}")
            recipients = [a.strip() for a in get("EMAIL_TO").split(",") if a.strip()]
            if not recipients:
                raise NotifyConfigError(f"{ENV_PREFIX}SMTP_HOST is set but {ENV_PREFIX}EMAIL_TO is empty")
            user = get("SMTP_USER") or None
            password = env.get(ENV_PREFIX + "SMTP_PASSWORD") or None
            if password and not user:
                raise NotifyConfigError(f"{ENV_PREFIX}SMTP_PASSWORD is set but {ENV_PREFIX}SMTP_USER is empty")
            channels.append(
                EmailChannel(
                    host,
                    port,
                    sender=get("EMAIL_FROM") or f"demand-forecast@{_hostname()}",
                    recipients=recipients,
                    user=user,
                    password=password,
                    starttls=_flag(env, "SMTP_STARTTLS"),
                    use_ssl=_flag(env, "SMTP_SSL"),
                )
            )
        elif get("EMAIL_TO"):
            raise NotifyConfigError(f"{ENV_PREFIX}EMAIL_TO is set but {ENV_PREFIX}SMTP_HOST is empty")

        return cls(channels=channels, notify_on_success=_flag(env, "ON_SUCCESS"))

    @property
    def enabled(self) -> bool:
        return bool(self.channels)

    def describe(self) -> str:
        """``webhook, email`` or ``none`` (for the log; no secrets)."""
        return ", ".join(c.name for c in self.channels) or "none"

    def send(self, message: Message) -> list[DeliveryResult]:
        """Deliver to every channel; failures are logged and returned, never raised."""
        if self.subject_prefix and not message.subject.startswith(self.subject_prefix):
            message = Message(
                f"{self.subject_prefix} {message.subject}", message.text, message.log_tail, message.success
            )
        results = []
        for channel in self.channels:
            started = time.monotonic()
            try:
                channel.send(message)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                logger.warning("notification via %s failed: %s", channel.name, error)
                results.append(DeliveryResult(channel.name, False, error, time.monotonic() - started))
            else:
                results.append(DeliveryResult(channel.name, True, None, time.monotonic() - started))
        return results
