"""Failure (and optional success) notifications of the batch, delivered by Apprise.

Apprise (https://github.com/caronc/apprise) speaks 100+ services (Slack, Microsoft Teams, e-mail,
Discord, ntfy, PagerDuty, plain JSON webhooks, ...), each configured by one URL. The batch reads its
channels from environment variables, all off by default:

=============================== =============================================================
``DEMAND_ALERT_URLS``           Apprise URLs, separated by spaces or commas, e.g.
                                ``slack://T000/B000/XXXX`` or ``msteams://...`` or
                                ``mailtos://user:pass@example.com?to=ops@example.com``.
``DEMAND_ALERT_WEBHOOK_URL``    an http(s) URL: POST ``{"text": ...}`` as JSON (a Slack incoming
                                webhook; Teams incoming webhooks accept the same body).
``DEMAND_ALERT_SMTP_HOST``      SMTP server; enables e-mail.
``DEMAND_ALERT_SMTP_PORT``      default 25.
``DEMAND_ALERT_EMAIL_FROM``     sender address; default ``demand-forecast@<hostname>``.
``DEMAND_ALERT_EMAIL_TO``       recipients, comma separated (required with the host); each
                                gets its own message.
``DEMAND_ALERT_SMTP_USER``      optional login ...
``DEMAND_ALERT_SMTP_PASSWORD``  ... and password.
``DEMAND_ALERT_SMTP_STARTTLS``  0/1, upgrade the connection with STARTTLS (default 0).
``DEMAND_ALERT_SMTP_SSL``       0/1, implicit TLS from the first byte, usually port 465
                                (default 0).
``DEMAND_ALERT_ON_SUCCESS``     0/1, also notify when a run succeeds (default 0).
=============================== =============================================================

The webhook and SMTP variables are shorthands: each becomes an Apprise URL (``json://`` with the
payload mapped to ``{"text": ...}``, ``mailto://``). Sending never raises: each channel's outcome is
returned as a :class:`DeliveryResult` with Apprise's own words on a failure, and logged (logger
``demand_forecast.ops.notify``), so a broken alert channel can not mask the error that was being
reported. A *misconfiguration* (a non-numeric port, a URL Apprise does not understand) is reported
by :meth:`Notifier.from_env` with :class:`NotifyConfigError` when the batch starts, because an alert
channel that silently turns itself off is worse than none.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import apprise

__all__ = [
    "Message",
    "DeliveryResult",
    "Channel",
    "AppriseChannel",
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
# Apprise's JSON payload is {"version", "title", "message", "attachments", "type"}: keep only the
# message, renamed to Slack's and Teams' "text" (the title is the message's first line).
_JSON_AS_TEXT = {":version": "", ":title": "", ":type": "", ":attachments": "", ":message": "text"}


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


def _checked(url: str, what: str) -> apprise.Apprise:
    """An Apprise instance holding ``url``; NotifyConfigError (naming ``what``, not the secret) if invalid."""
    instance = apprise.Apprise()
    if not instance.add(url):
        scheme = url.split("://", 1)[0] if "://" in url else "(no scheme)"
        raise NotifyConfigError(
            f"{what}: Apprise does not understand this URL (scheme {scheme}); "
            "see https://github.com/caronc/apprise/wiki for the URL of each service"
        )
    return instance


def _deliver(instance: apprise.Apprise, title: str, body: str) -> None:
    """Send through Apprise; raise with Apprise's own account when it reports a failure.

    Apprise logs the failure as a warning and the underlying exception (e.g. the SMTP server's
    refusal of STARTTLS) at debug level: both are kept, nothing else of its debug chatter.
    """
    with apprise.LogCapture(level=logging.DEBUG, fmt="%(levelname)s %(message)s") as captured:
        ok = instance.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
    if not ok:
        kept = []
        for line in captured.getvalue().splitlines():
            level, _, text = line.partition(" ")
            if level in ("WARNING", "ERROR", "CRITICAL") or "Exception:" in text:
                kept.append(text.strip())
        raise RuntimeError(" ".join(kept)[:500] or "Apprise reported a failure without detail")


def _plain_body(message: Message) -> str:
    body = message.text.rstrip("\n") + "\n"
    tail = _clip_lines(message.log_tail)
    if tail:
        body += f"\n----- last {len(tail)} log lines -----\n" + "\n".join(tail) + "\n"
    return body


class AppriseChannel:
    """Any Apprise URL (``DEMAND_ALERT_URLS``): the subject as title, the text and log tail as body."""

    def __init__(self, url: str):
        self._apprise = _checked(url, f"{ENV_PREFIX}URLS")
        self.name = url.split("://", 1)[0].lower()

    def __repr__(self) -> str:  # never show the URL: it holds tokens
        return f"AppriseChannel({self.name}://...)"

    def send(self, message: Message) -> None:
        _deliver(self._apprise, message.subject, _plain_body(message))


class WebhookChannel:
    """POST ``{"text": ...}`` (Slack-compatible; Teams incoming webhooks accept it too) via Apprise ``json://``."""

    name = "webhook"

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_S):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise NotifyConfigError(f"{ENV_PREFIX}WEBHOOK_URL must be an http(s) URL, got {url!r}")
        self.url = url
        self.timeout = timeout
        self._apprise = _checked(self.apprise_url(), f"{ENV_PREFIX}WEBHOOK_URL")

    def apprise_url(self) -> str:
        parsed = urllib.parse.urlsplit(self.url)
        scheme = "jsons" if parsed.scheme == "https" else "json"
        # the webhook's own query parameters travel as Apprise's "-name" (GET) parameters
        query = [(f"-{k}", v) for k, v in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)]
        query += [*_JSON_AS_TEXT.items(), ("cto", f"{self.timeout:g}"), ("rto", f"{self.timeout:g}")]
        return f"{scheme}://{parsed.netloc}{parsed.path or '/'}?{urllib.parse.urlencode(query)}"

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
        _deliver(self._apprise, "", self.render(message))


class EmailChannel:
    """Plain-text e-mail through an SMTP relay (optional STARTTLS / implicit TLS / login) via Apprise ``mailto://``."""

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
        self._apprise = _checked(self.apprise_url(), f"{ENV_PREFIX}SMTP_HOST / {ENV_PREFIX}EMAIL_TO")

    def apprise_url(self) -> str:
        login = f"{_quote(self.user)}:{_quote(self.password or '')}@" if self.user else ""
        mode = "ssl" if self.use_ssl else "starttls" if self.starttls else "insecure"
        query = urllib.parse.urlencode(
            {"smtp": self.host, "from": self.sender, "to": ",".join(self.recipients), "mode": mode, "format": "text"}
        )
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mailtos' if self.use_ssl or self.starttls else 'mailto'}://{login}{host}:{self.port}?{query}"

    def __repr__(self) -> str:
        return (
            f"EmailChannel(host={self.host!r}, port={self.port}, sender={self.sender!r}, "
            f"recipients={self.recipients!r}, user={self.user!r}, starttls={self.starttls}, "
            f"use_ssl={self.use_ssl})"
        )

    def send(self, message: Message) -> None:
        _deliver(self._apprise, message.subject, _plain_body(message))


def _quote(text: str) -> str:
    """Percent-encode a URL's user or password part (Apprise decodes it)."""
    return urllib.parse.quote(text, safe="")


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

        channels += [AppriseChannel(u) for u in re.split(r"[\s,]+", get("URLS")) if u]
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
