"""The one notification of a batch run: composed from the failure (or the summary) and sent once."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .metrics import fmt_duration
from .notify import DeliveryResult, Message, Notifier
from .output import RunOutput


def failure_message(
    *,
    batch_name: str,
    run_id: str,
    step_name: str | None,
    step_index: int | None,
    error: str,
    hints: Sequence[str],
    log_path: Path,
    records: Sequence[Mapping[str, Any]],
    log_tail: Sequence[str],
) -> Message:
    """What people are told when a run fails: where, why, what to do, and the last log lines."""
    where = step_name or "(outside a step)"
    lines = [
        f"Batch {batch_name} FAILED",
        f"run id: {run_id}",
        f"host:   {socket.gethostname()}",
        f"step:   {where}" + (f" (step {step_index})" if step_index else ""),
        f"error:  {error}",
    ]
    lines += [f"hint:   {h}" for h in hints]
    lines.append(f"log:    {log_path.resolve()}")
    lines.append(
        "steps:  "
        + "; ".join(
            f"{m['step_name']} {m['status']}"
            + (f" ({fmt_duration(m['duration_s'])})" if m["duration_s"] is not None else "")
            for m in records
        )
    )
    return Message(
        subject=f"FAILED: batch {batch_name} at step {where} (run {run_id})",
        text="\n".join(lines),
        log_tail=list(log_tail),
    )


class Alerter:
    """Sends at most one message per run through the notifier; a broken channel is logged, never raised."""

    def __init__(self, notifier: Notifier | None, output: RunOutput):
        self.notifier = notifier
        self.output = output
        self.sent = False
        self.deliveries: list[DeliveryResult] = []

    def describe(self) -> str:
        return self.notifier.describe() if self.notifier else "none"

    @property
    def notify_on_success(self) -> bool:
        return bool(self.notifier and self.notifier.notify_on_success)

    def send(self, message: Message) -> None:
        if self.sent:
            return
        self.sent = True
        if self.notifier is None or not self.notifier.enabled:
            self.output.event(
                "no notification channel configured (DEMAND_ALERT_*); nobody was notified", console=not message.success
            )
            return
        try:
            results = self.notifier.send(message)
        except Exception as exc:
            results = [DeliveryResult("notifier", False, f"{type(exc).__name__}: {exc}")]
        self.deliveries.extend(results)
        for r in results:
            if r.ok:
                self.output.event(f"notification sent via {r.channel} ({r.duration_s:.1f}s)")
            else:
                self.output.event(f"WARNING notification via {r.channel} FAILED: {r.error}")
