"""Write-audit-publish for the monthly batch: build and test on a copy, then switch readers at once.

Readers (BI tools, purchasing, the Elementary report's readers) use three things: the warehouse
file, the ``exports`` folder and the ``reports`` folder. A batch run never writes any of them
while it works. It copies the published warehouse to ``<warehouse dir>/.staging/<run id>/`` (so
incremental history carries over), builds and tests every month there, writes exports and reports
into ``<exports>/.staging/<run id>/`` and ``<reports>/.staging/<run id>/``, and only when every step
passed does it publish: it writes a journal listing the renames (each staged file over the file
readers use, the warehouse last), then performs them with ``os.replace``. Each rename is atomic
(same filesystem: every staged file sits beside its destination); a reader holding the old
warehouse open keeps reading the old file. A kill before the journal leaves readers untouched; a
kill after it is completed by the next run, which first rolls every pending journal forward.

A lock file (``<warehouse dir>/.batch.lock``, ``fcntl.flock``) keeps a second batch out; it names
the holder. The operating system releases it when the holder dies, so it never goes stale.

``DEMAND_FAILPOINT`` (tests only) kills the process with SIGKILL at a named point:
``before-publish`` (everything staged, no journal yet) or ``mid-publish`` (after the first rename).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .runlog import BatchStop
from .steps import lock_holder

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

JOURNAL = "publish.json"
STAGING = ".staging"


def failpoint(name: str) -> None:
    """Die here (SIGKILL, as a power cut or the OOM killer would) when DEMAND_FAILPOINT names this point."""
    if os.environ.get("DEMAND_FAILPOINT") == name:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class Layout:
    """What readers use: the warehouse file and the exports and reports folders."""

    warehouse: Path
    exports: Path
    reports: Path

    def stage(self, run_id: str) -> Stage:
        return Stage(
            root=self.warehouse.parent / STAGING / run_id,
            warehouse=self.warehouse.parent / STAGING / run_id / self.warehouse.name,
            exports=self.exports / STAGING / run_id,
            reports=self.reports / STAGING / run_id,
        )

    def staging_roots(self) -> list[Path]:
        return [self.warehouse.parent / STAGING, self.exports / STAGING, self.reports / STAGING]


@dataclass(frozen=True)
class Stage:
    """Where one run writes: beside each thing readers use, so a rename publishes it."""

    root: Path  # the run's folder beside the warehouse: staged warehouse, replay copy, plan, journal
    warehouse: Path
    exports: Path
    reports: Path

    @property
    def journal(self) -> Path:
        return self.root / JOURNAL

    def create(self) -> None:
        for folder in (self.root, self.exports, self.reports):
            folder.mkdir(parents=True, exist_ok=True)

    def remove(self) -> None:
        for folder in (self.exports, self.reports, self.root):
            shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------- the batch lock
class BatchLock:
    """An exclusive lock on ``path`` held for the life of a batch; the file names the holder."""

    def __init__(self, path: Path):
        self.path = path
        self._fh = None

    def acquire(self, run_id: str, log_path: Path) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                holder = fh.read().strip()
                fh.close()
                raise BatchStop(
                    f"another batch is running on this warehouse ({self.path.parent}): {holder or 'holder unknown'}. "
                    "Wait for it to finish; the lock is released when that process ends."
                ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "command": " ".join(sys.argv),
                    "run_id": run_id,
                    "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "log": str(log_path),
                }
            )
            + "\n"
        )
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()  # closing the file releases the flock
            self._fh = None


# ---------------------------------------------------------------------- reading the published file
@contextlib.contextmanager
def hold_published(warehouse: Path) -> Iterator[None]:
    """Hold a read-only connection on the published warehouse: no process can write it meanwhile.

    Raises :class:`BatchStop` naming the process when one already has it open for writing.
    """
    if not warehouse.exists():
        yield
        return
    try:
        connection = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.IOException as exc:
        held = lock_holder([str(exc)])
        if held is None:
            raise
        raise BatchStop(
            f"{held}. The batch publishes by replacing that file: a process writing to it would lose its work"
        ) from None
    try:
        yield
    finally:
        connection.close()


def copy_published(layout: Layout, stage: Stage) -> str:
    """Start the staged warehouse from the published one (incremental history carries over)."""
    stage.create()
    published = layout.warehouse
    if not published.exists():
        return f"no published warehouse at {published} yet: the run starts from an empty one"
    with hold_published(published):
        shutil.copy2(published, stage.warehouse)
        wal = published.with_name(published.name + ".wal")
        if wal.exists():  # left by a writer that did not close; DuckDB replays it into the copy
            shutil.copy2(wal, stage.warehouse.with_name(stage.warehouse.name + ".wal"))
    return f"copied {published} ({published.stat().st_size / 1e6:,.1f} MB) to {stage.warehouse}"


def checkpoint(warehouse: Path) -> None:
    """Fold a DuckDB write-ahead log into the file, so the file alone is the whole warehouse."""
    if warehouse.with_name(warehouse.name + ".wal").exists():
        with duckdb.connect(str(warehouse)) as connection:
            connection.execute("checkpoint")


def export_marts(warehouse: Path, folder: Path) -> str:
    """Write every table of schema ``marts`` to ``<folder>/<table>.parquet``."""
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        for table in tables:
            target = str(folder / f"{table}.parquet").replace("'", "''")
            connection.execute(f"copy marts.\"{table}\" to '{target}' (format parquet)")
    return f"{len(tables)} marts written to {folder}"


# ---------------------------------------------------------------------- publish and recover
def _renames(layout: Layout, stage: Stage) -> list[tuple[str, str]]:
    pairs = [(str(p), str(layout.exports / p.name)) for p in sorted(stage.exports.glob("*.parquet"))]
    pairs += [(str(p), str(layout.reports / p.name)) for p in sorted(stage.reports.iterdir()) if p.is_file()]
    wal = layout.warehouse.with_name(layout.warehouse.name + ".wal")
    if wal.exists():  # a crashed writer's log belongs to the old file: it must not meet the new one
        pairs.append((str(wal), str(stage.root / "replaced-warehouse.wal")))
    pairs.append((str(stage.warehouse), str(layout.warehouse)))
    return pairs


def _apply(pairs: list[tuple[str, str]], kill_after_first: bool = False) -> int:
    done = 0
    for source, target in pairs:
        if os.path.exists(source):
            os.replace(source, target)
            done += 1
            if kill_after_first:
                failpoint("mid-publish")
    for folder in {os.path.dirname(target) for _, target in pairs}:
        _fsync_dir(Path(folder))
    return done


def publish(layout: Layout, stage: Stage) -> str:
    """Switch readers to the staged run: journal first, then one rename per file, warehouse last."""
    checkpoint(stage.warehouse)
    if not stage.warehouse.exists():
        raise BatchStop(f"nothing to publish: the staged warehouse {stage.warehouse} is missing")
    layout.exports.mkdir(parents=True, exist_ok=True)
    layout.reports.mkdir(parents=True, exist_ok=True)
    with hold_published(layout.warehouse):
        pairs = _renames(layout, stage)
        failpoint("before-publish")
        partial = stage.journal.with_suffix(".tmp")
        with open(partial, "w", encoding="utf-8") as fh:
            json.dump({"renames": pairs}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, stage.journal)
        _fsync_dir(stage.root)
        _apply(pairs, kill_after_first=True)
        stage.journal.unlink()
    stage.remove()
    return f"published {len(pairs)} files: {layout.warehouse}, {layout.exports}, {layout.reports}"


def recover(layout: Layout, keep: Stage | None = None) -> list[str]:
    """Complete every publish a killed run left half done, then remove other runs' staging folders."""
    notes = []
    root = layout.warehouse.parent / STAGING
    journals = sorted(root.glob(f"*/{JOURNAL}")) if root.is_dir() else []
    for journal in journals:
        pairs = [tuple(pair) for pair in json.loads(journal.read_text(encoding="utf-8"))["renames"]]
        with hold_published(layout.warehouse):
            done = _apply(pairs)  # type: ignore[arg-type]
        journal.unlink()
        notes.append(f"completed the publish of run {journal.parent.name} ({done} of {len(pairs)} renames were left)")
    for staging in layout.staging_roots():
        if not staging.is_dir():
            continue
        for leftover in staging.iterdir():
            if keep is not None and leftover.name == keep.root.name:
                continue
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink()
            notes.append(f"removed {leftover} (left by an earlier run)")
    return notes
