"""Progress of a forecasting run, told to whoever listens: stage, series done / total.

The package only *emits*: :func:`stage` when a stage starts, :func:`series` when a group map over
products starts and :func:`advance` as its chunks finish. Listeners are plain callables
``listener(stage, done, total)`` registered with :func:`listening`; with none registered every call
is a no-op. How often a line is written, and where, is the listener's business (the batch's is
:class:`demand_forecast.ops.progress.ProgressLines`), so this package depends on nothing outside it.
Events come from the process that runs :func:`~demand_forecast.forecasting.pipeline.run_forecasting`
(worker processes only compute chunks).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

Listener = Callable[[str, int, int], None]

_listeners: list[Listener] = []
_state = {"stage": "", "done": 0, "total": 0}


def _emit() -> None:
    for listener in list(_listeners):
        listener(str(_state["stage"]), int(_state["done"]), int(_state["total"]))


def stage(name: str) -> None:
    """A stage starts (no series counted yet)."""
    _state.update(stage=name, done=0, total=0)
    if _listeners:
        _emit()


def series(total: int) -> None:
    """A map over ``total`` series starts within the current stage."""
    _state.update(done=0, total=int(total))
    if _listeners:
        _emit()


def advance(n: int) -> None:
    """``n`` more series of the current map are done."""
    _state["done"] = int(_state["done"]) + int(n)
    if _listeners:
        _emit()


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send this block's progress events to ``listener``."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
