"""Tests for demand_forecast.ops.notify against real local servers on 127.0.0.1.

The module also holds the two recording servers used by test_runlog.py:
``HttpSink`` (http.server) and ``SmtpSink`` (a minimal SMTP server on socketserver).
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from demand_forecast.ops.notify import (
    EmailChannel,
    Message,
    Notifier,
    NotifyConfigError,
    WebhookChannel,
)

LOCALHOST = "127.0.0.1"


# --------------------------------------------------------------------------- servers
class HttpSink:
    """Records every POST; answers with ``status`` (200 by default)."""

    def __init__(self, status: int = 200):
        self.status = status
        self.requests: list[dict] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                sink.requests.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "body": body,
                    }
                )
                payload = b"ok" if sink.status < 400 else b"invalid_payload"
                self.send_response(sink.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer((LOCALHOST, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{LOCALHOST}:{self.server.server_address[1]}/hooks/T000/B000"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def texts(self) -> list[str]:
        return [json.loads(r["body"])["text"] for r in self.requests]

    def __enter__(self) -> HttpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class _SmtpHandler(socketserver.StreamRequestHandler):
    timeout = 10

    def _reply(self, *lines: str) -> None:
        out = []
        for i, line in enumerate(lines):
            code, text = line[:3], line[4:]
            sep = " " if i == len(lines) - 1 else "-"
            out.append(f"{code}{sep}{text}\r\n")
        self.wfile.write("".join(out).encode("ascii"))
        self.wfile.flush()

    def handle(self) -> None:
        sink: SmtpSink = self.server.sink  # type: ignore[attr-defined]
        self._reply("220 127.0.0.1 test SMTP ready")
        mail_from, rcpts = None, []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            sink.commands.append(verb)
            if verb == "EHLO":
                lines = ["250 127.0.0.1 hello"]
                if sink.auth:
                    lines.append("250 AUTH PLAIN")
                self._reply(*lines)
            elif verb == "HELO":
                self._reply("250 127.0.0.1 hello")
            elif verb == "AUTH":
                mech, _, initial = arg.partition(" ")
                if not sink.auth or mech.upper() != "PLAIN" or not initial:
                    self._reply("504 unsupported")
                    continue
                _, user, password = base64.b64decode(initial).decode().split("\0")
                sink.logins.append((user, password))
                self._reply("235 authenticated")
            elif verb == "MAIL":
                mail_from = arg.split(":", 1)[1].strip().split()[0].strip("<>")
                rcpts = []
                self._reply("250 ok")
            elif verb == "RCPT":
                rcpts.append(arg.split(":", 1)[1].strip().split()[0].strip("<>"))
                self._reply("250 ok")
            elif verb == "DATA":
                self._reply("354 end data with <CR><LF>.<CR><LF>")
                data = bytearray()
                while True:
                    chunk = self.rfile.readline()
                    if not chunk or chunk == b".\r\n":
                        break
                    if chunk.startswith(b".."):
                        chunk = chunk[1:]  # undo dot-stuffing
                    data += chunk
                sink.messages.append({"from": mail_from, "to": list(rcpts), "data": bytes(data)})
                self._reply("250 queued")
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self._reply("250 ok")
            elif verb == "NOOP":
                self._reply("250 ok")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 command not implemented")


class SmtpSink:
    """Minimal SMTP server: 220 greeting, EHLO/HELO, [AUTH PLAIN], MAIL, RCPT, DATA, QUIT."""

    def __init__(self, auth: bool = False):
        self.auth = auth
        self.messages: list[dict] = []
        self.logins: list[tuple[str, str]] = []
        self.commands: list[str] = []
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer((LOCALHOST, 0), _SmtpHandler)
        self.server.daemon_threads = True
        self.server.sink = self  # type: ignore[attr-defined]
        self.host, self.port = LOCALHOST, self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def parsed(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(m["data"], policy=email.policy.default)  # type: ignore[misc]
            for m in self.messages
        ]

    def bodies(self) -> list[str]:
        return [m.get_content() for m in self.parsed()]

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def alert_env(http: HttpSink | None = None, smtp: SmtpSink | None = None, **extra: str) -> dict:
    env: dict[str, str] = {}
    if http is not None:
        env["DEMAND_ALERT_WEBHOOK_URL"] = http.url
    if smtp is not None:
        env.update(
            {
                "DEMAND_ALERT_SMTP_HOST": smtp.host,
                "DEMAND_ALERT_SMTP_PORT": str(smtp.port),
                "DEMAND_ALERT_EMAIL_FROM": "batch@example.test",
                "DEMAND_ALERT_EMAIL_TO": "planner@example.test, ops@example.test",
            }
        )
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    # urllib honours *_proxy variables; the local test servers must be reached directly.
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def http_sink():
    with HttpSink() as sink:
        yield sink


@pytest.fixture
def smtp_sink():
    with SmtpSink() as sink:
        yield sink


MESSAGE = Message(
    subject="FAILED: batch monthly at step dbt build (run 20261129T000000Z-abcdef)",
    text="Batch monthly FAILED\nstep:   dbt build\nerror:  exit code 1",
    log_tail=["line one", "boom", "Müller GmbH <!channel> & co"],
)


# --------------------------------------------------------------------------- from_env
def test_from_env_all_off_by_default():
    notifier = Notifier.from_env({})
    assert notifier.channels == []
    assert not notifier.enabled
    assert notifier.notify_on_success is False
    assert notifier.describe() == "none"
    assert notifier.send(MESSAGE) == []


def test_from_env_reads_every_variable():
    notifier = Notifier.from_env(
        {
            "DEMAND_ALERT_WEBHOOK_URL": "https://hooks.example.test/services/x",
            "DEMAND_ALERT_SMTP_HOST": "smtp.example.test",
            "DEMAND_ALERT_EMAIL_FROM": "batch@example.test",
            "DEMAND_ALERT_EMAIL_TO": " a@example.test, b@example.test ,",
            "DEMAND_ALERT_SMTP_USER": "batch",
            "DEMAND_ALERT_SMTP_PASSWORD": "s3cret",
            "DEMAND_ALERT_SMTP_STARTTLS": "1",
            "DEMAND_ALERT_ON_SUCCESS": "1",
        }
    )
    webhook, mail = notifier.channels
    assert isinstance(webhook, WebhookChannel) and webhook.timeout == 10
    assert isinstance(mail, EmailChannel)
    assert (mail.host, mail.port) == ("smtp.example.test", 25)
    assert mail.recipients == ["a@example.test", "b@example.test"]
    assert mail.sender == "batch@example.test"
    assert (mail.user, mail.password, mail.starttls, mail.use_ssl) == ("batch", "s3cret", True, False)
    assert notifier.notify_on_success is True
    assert notifier.describe() == "webhook, email"
    assert "s3cret" not in repr(mail) and "services" not in repr(webhook)


@pytest.mark.parametrize(
    "env",
    [
        {"DEMAND_ALERT_SMTP_HOST": "smtp.example.test"},  # no recipients
        {"DEMAND_ALERT_EMAIL_TO": "a@example.test"},  # no host
        {"DEMAND_ALERT_SMTP_HOST": "h", "DEMAND_ALERT_EMAIL_TO": "a@x", "DEMAND_ALERT_SMTP_PORT": "smtp"},
        {"DEMAND_ALERT_SMTP_HOST": "h", "DEMAND_ALERT_EMAIL_TO": "a@x", "DEMAND_ALERT_SMTP_STARTTLS": "maybe"},
        {"DEMAND_ALERT_SMTP_HOST": "h", "DEMAND_ALERT_EMAIL_TO": "a@x", "DEMAND_ALERT_SMTP_PASSWORD": "pw"},
        {"DEMAND_ALERT_WEBHOOK_URL": "hooks.example.test/no-scheme"},
        {"DEMAND_ALERT_ON_SUCCESS": "2"},
    ],
)
def test_from_env_rejects_misconfiguration(env):
    with pytest.raises(NotifyConfigError):
        Notifier.from_env(env)


# --------------------------------------------------------------------------- webhook
def test_webhook_posts_slack_compatible_json(http_sink):
    results = Notifier.from_env(alert_env(http_sink)).send(MESSAGE)
    assert [(r.channel, r.ok) for r in results] == [("webhook", True)]
    assert len(http_sink.requests) == 1
    request = http_sink.requests[0]
    assert request["path"] == "/hooks/T000/B000"
    assert request["content_type"].startswith("application/json")
    payload = json.loads(request["body"])
    assert list(payload) == ["text"]
    text = payload["text"]
    assert "[demand-forecast] FAILED: batch monthly at step dbt build" in text
    assert "error:  exit code 1" in text
    assert "boom" in text and "Müller GmbH" in text
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; co" in text  # no @channel pings


def test_webhook_http_error_is_reported_not_raised():
    with HttpSink(status=500) as sink:
        results = Notifier.from_env(alert_env(sink)).send(MESSAGE)
    assert len(sink.requests) == 1
    (result,) = results
    assert not result.ok and "error=500" in result.error  # Apprise: "Failed to send JSON POST ..., error=500."


def test_unreachable_webhook_does_not_raise():
    notifier = Notifier.from_env({"DEMAND_ALERT_WEBHOOK_URL": f"http://{LOCALHOST}:{closed_port()}/hook"})
    started = time.monotonic()
    (result,) = notifier.send(MESSAGE)
    assert not result.ok and result.error
    assert time.monotonic() - started < 5


def test_webhook_keeps_the_newest_log_lines_when_too_long():
    channel = WebhookChannel("http://127.0.0.1:9/hook")
    tail = [f"line {i:05d} " + "x" * 300 for i in range(200)]
    text = channel.render(Message("s", "t", tail))
    assert len(text) <= 12_000
    assert "line 00199" in text and "line 00000" not in text


# --------------------------------------------------------------------------- e-mail
def test_email_delivered_to_all_recipients(smtp_sink):
    results = Notifier.from_env(alert_env(smtp=smtp_sink)).send(MESSAGE)
    assert [(r.channel, r.ok) for r in results] == [("email", True)]
    # Apprise sends each recipient a message of their own, over one SMTP session
    assert len(smtp_sink.messages) == 2
    assert [m["from"] for m in smtp_sink.messages] == ["batch@example.test"] * 2
    assert [m["to"] for m in smtp_sink.messages] == [["planner@example.test"], ["ops@example.test"]]
    for envelope, msg in zip(smtp_sink.messages, smtp_sink.parsed(), strict=True):
        assert msg["Subject"].startswith("[demand-forecast] FAILED: batch monthly")
        assert msg["To"] == envelope["to"][0]
        body = msg.get_content()
        assert "error:  exit code 1" in body
        assert "boom" in body and "Müller GmbH <!channel> & co" in body  # plain text, not escaped
        assert all(b < 128 for b in envelope["data"])  # 7-bit safe on the wire
    assert smtp_sink.commands.count("EHLO") == 1
    assert smtp_sink.commands[-1] == "QUIT"


def test_email_login_when_user_configured():
    with SmtpSink(auth=True) as sink:
        env = alert_env(smtp=sink, DEMAND_ALERT_SMTP_USER="batch", DEMAND_ALERT_SMTP_PASSWORD="pw")
        (result,) = Notifier.from_env(env).send(MESSAGE)
    assert result.ok, result.error
    assert sink.logins == [("batch", "pw")]
    assert len(sink.messages) == 2  # one per recipient


def test_email_starttls_unsupported_is_reported_not_raised(smtp_sink):
    env = alert_env(smtp=smtp_sink, DEMAND_ALERT_SMTP_STARTTLS="1")
    (result,) = Notifier.from_env(env).send(MESSAGE)
    assert not result.ok and "STARTTLS" in result.error.upper()
    assert smtp_sink.messages == []


def test_one_broken_channel_does_not_stop_the_other(smtp_sink):
    env = alert_env(smtp=smtp_sink, DEMAND_ALERT_WEBHOOK_URL=f"http://{LOCALHOST}:{closed_port()}/x")
    results = Notifier.from_env(env).send(MESSAGE)
    assert [(r.channel, r.ok) for r in results] == [("webhook", False), ("email", True)]
    assert len(smtp_sink.messages) == 2  # one per recipient


# --------------------------------------------------------------------------- any Apprise URL
def test_apprise_urls_reach_any_service(http_sink):
    """DEMAND_ALERT_URLS takes Apprise URLs: here its generic JSON service, to the local receiver."""
    url = http_sink.url.replace("http://", "json://")
    notifier = Notifier.from_env({"DEMAND_ALERT_URLS": f" {url} ,"})
    assert notifier.describe() == "json"
    assert "hooks" not in repr(notifier.channels[0])  # tokens stay out of logs
    (result,) = notifier.send(MESSAGE)
    assert result.ok, result.error
    payload = json.loads(http_sink.requests[0]["body"])
    assert payload["title"].startswith("[demand-forecast] FAILED: batch monthly")
    assert "error:  exit code 1" in payload["message"] and "boom" in payload["message"]


def test_an_url_apprise_does_not_understand_is_refused_at_start():
    with pytest.raises(NotifyConfigError, match="DEMAND_ALERT_URLS: Apprise does not understand .*scheme nosuch"):
        Notifier.from_env({"DEMAND_ALERT_URLS": "nosuch://secret-token@host"})


def test_webhook_query_and_login_characters_survive_the_translation(http_sink):
    env = {"DEMAND_ALERT_WEBHOOK_URL": http_sink.url + "?code=a%2Fb&x=1"}
    (result,) = Notifier.from_env(env).send(MESSAGE)
    assert result.ok, result.error
    assert http_sink.requests[0]["path"] == "/hooks/T000/B000?code=a%2Fb&x=1"
    with SmtpSink(auth=True) as sink:
        env = alert_env(smtp=sink, DEMAND_ALERT_SMTP_USER="batch@corp", DEMAND_ALERT_SMTP_PASSWORD="p w:/@?&#")
        (result,) = Notifier.from_env(env).send(MESSAGE)
    assert result.ok, result.error
    assert sink.logins == [("batch@corp", "p w:/@?&#")]
