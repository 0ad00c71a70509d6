"""Where a batch run writes: its log file, the console, and the last lines kept for an alert.

:class:`RunOutput` is the only writer of both; every line goes to the log file, most also to the
console, and the newest ``tail_lines`` are kept so a failure notification can quote them.
:class:`Tee` copies what a Python step prints into the same place.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO


def safe_console_write(stream: TextIO, text: str) -> None:
    """Write to a console that may be closed, broken or unable to encode: never raise."""
    try:
        stream.write(text)
        stream.flush()
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            stream.write(text.encode(encoding, errors="replace").decode(encoding))
            stream.flush()
        except (OSError, ValueError):
            pass
    except (OSError, ValueError):
        pass  # a closed/broken console must never fail the batch


class RunOutput:
    """The log file of one run plus the console, thread-safe (subprocess output arrives on a thread)."""

    def __init__(self, batch_name: str, log_path: Path, tail_lines: int = 40):
        self.batch_name = batch_name
        self.log_path = log_path
        self.console: TextIO | None = None
        self._log: TextIO | None = None
        self._lock = threading.RLock()
        self._tail: deque[str] = deque(maxlen=max(tail_lines, 1))

    @property
    def is_open(self) -> bool:
        return self._log is not None

    @property
    def tail(self) -> list[str]:
        return list(self._tail)

    def open(self, console: TextIO) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.console = console
        # open for the whole run, closed by close()
        self._log = open(self.log_path, "a", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                with contextlib.suppress(OSError):
                    self._log.close()
                self._log = None

    def event(self, text: str, console: bool = True) -> None:
        """A time-stamped line of the batch itself (START/END/FAILED ...)."""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        self.line(f"{stamp} [{self.batch_name}] {text}", console=console)

    def lines(self, chunks: Iterable[str], console: bool = True) -> None:
        """Text that may span lines (a traceback), one output line per line."""
        for chunk in chunks:
            for line in chunk.rstrip("\n").split("\n"):
                self.line(line, console=console)

    def line(self, line: str, console: bool = True) -> None:
        with self._lock:
            self._tail.append(line)
            if self._log is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._log.write(line + "\n")
            if console and self.console is not None:
                safe_console_write(self.console, line + "\n")

    def append_block(self, text: str) -> None:
        """Append a block (the summary) to the log file, also after the run closed it."""
        with self._lock:
            if self._log is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._log.write(text + "\n")
                return
            with contextlib.suppress(OSError), open(self.log_path, "a", encoding="utf-8", errors="replace") as fh:
                fh.write(text + "\n")


class Tee(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr during a Python step: echo, and copy each line to ``sink``."""

    def __init__(self, original: TextIO, sink: Callable[[str], None]):
        self._original = original
        self._sink = sink
        self._partial = ""

    def write(self, text: str) -> int:  # type: ignore[override]
        with contextlib.suppress(OSError, ValueError):
            self._original.write(text)
        data = self._partial + text
        *complete, self._partial = data.split("\n")
        for line in complete:
            self._sink(line)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._original.flush()

    def close_partial(self) -> None:
        if self._partial:
            self._sink(self._partial)
            self._partial = ""

    def isatty(self) -> bool:
        try:
            return self._original.isatty()
        except (OSError, ValueError, AttributeError):
            return False

    def fileno(self) -> int:
        return self._original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", "utf-8")

    def writable(self) -> bool:
        return True
