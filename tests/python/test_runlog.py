"""Tests for demand_forecast.ops.runlog (BatchRun) and demand_forecast.ops.dbt_results.

Notifications go to real local servers on 127.0.0.1 (HttpSink / SmtpSink from
test_notify.py); steps are real subprocesses of the current Python interpreter.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import stat
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from demand_forecast.ops.dbt_results import (
    load_run_results,
    parse_run_results,
    run_results_path,
    summarize_run_results,
)
from demand_forecast.ops.notify import Notifier
from demand_forecast.ops.runlog import BatchFailed, BatchRun, new_run_id, write_metrics_to_duckdb

# The recording servers live in test_notify.py; load it by path so this works whatever
# pytest's import mode is.
_spec = importlib.util.spec_from_file_location("_notify_sinks", Path(__file__).with_name("test_notify.py"))
_sinks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_sinks)
HttpSink, SmtpSink, alert_env, closed_port = _sinks.HttpSink, _sinks.SmtpSink, _sinks.alert_env, _sinks.closed_port

PY = sys.executable
BOOM = [PY, "-c", "import sys; print('boom'); sys.exit(3)"]


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def sinks():
    with HttpSink() as http, SmtpSink() as smtp:
        yield http, smtp


@pytest.fixture
def notifier(sinks):
    http, smtp = sinks
    return Notifier.from_env(alert_env(http, smtp))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------- success
def test_passing_run_logs_steps_metrics_and_sends_nothing(tmp_path, sinks, notifier):
    http, smtp = sinks
    console = io.StringIO()

    def dashboard():
        print("dashboard written")
        return {"rows": 600, "path": "reports/dashboard.html"}

    with BatchRun(name="monthly", log_dir=tmp_path / "logs", notifier=notifier, console=console) as run:
        first = run.step("extract", [PY, "-c", "print('hello from child')"], rows=1000)
        second = run.step("dashboard", dashboard)
        run.summary_line("products forecast", 600)
        run.summary_line("reports", "reports/dashboard.html")

    assert run.status == "ok" and not run.failed
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", run.run_id)
    assert http.requests == [] and smtp.messages == []
    assert first.ok and first.exit_code == 0 and first.rows == 1000
    assert second.value["path"] == "reports/dashboard.html" and second.rows == 600

    assert run.log_path == tmp_path / "logs" / f"batch-{run.run_id}.log"
    log = run.log_path.read_text(encoding="utf-8")
    assert "START step 1 extract" in log and "hello from child" in log
    assert re.search(r"END step 1 extract: ok exit_code=0 duration=\d+\.\d\ds peak_memory=\d+\.\dMB rows=1000", log)
    assert re.search(r"END step 2 dashboard: ok exit_code=0 duration=\d+\.\d\ds", log)
    assert "dashboard written" in log  # callable output is teed into the log
    assert "summary: products forecast = 600" in log
    assert f"run {run.run_id} OK" in log
    assert "hello from child" in console.getvalue()  # and streamed to the console

    rows = read_jsonl(tmp_path / "logs" / "run_metrics.jsonl")
    assert rows == run.metrics
    assert [(m["step_name"], m["status"], m["kind"]) for m in rows] == [
        ("extract", "ok", "shell"),
        ("dashboard", "ok", "python"),
    ]
    for m in rows:
        assert m["run_id"] == run.run_id
        assert m["duration_s"] >= 0 and m["exit_code"] == 0
        assert m["peak_memory_mb"] > 1
        assert m["rows_per_second"] > 0
        assert datetime.fromisoformat(m["started_at"]) <= datetime.fromisoformat(m["finished_at"])

    text = run.print_summary(file=io.StringIO())
    assert "extract" in text and "dashboard" in text and "OK" in text
    assert "products forecast" in text and "reports/dashboard.html" in text
    assert text in run.log_path.read_text(encoding="utf-8")  # appended after the run closed


def test_subprocess_output_is_streamed_live(tmp_path):
    writes: list[tuple[float, str]] = []

    class Console(io.StringIO):
        def write(self, s):
            writes.append((time.monotonic(), s))
            return super().write(s)

    code = "import time; print('first', flush=True); time.sleep(0.5); print('second')"
    with BatchRun(log_dir=tmp_path, console=Console()) as run:
        run.step("slow", [PY, "-c", code])
    t_first = next(t for t, s in writes if s.startswith("first"))
    t_second = next(t for t, s in writes if s.startswith("second"))
    assert t_second - t_first >= 0.3  # "first" reached the console while the child still ran


def test_notify_on_success_sends_one_message(tmp_path, sinks):
    http, smtp = sinks
    notifier = Notifier.from_env(alert_env(http, smtp, DEMAND_ALERT_ON_SUCCESS="1"))
    with BatchRun(name="monthly", log_dir=tmp_path, notifier=notifier, console=io.StringIO()) as run:
        run.step("ok", [PY, "-c", "pass"])
        run.summary_line("products forecast", 600)
    assert len(http.requests) == 1 and len(smtp.messages) == 2  # one alert: a message per recipient
    assert "OK: batch monthly" in http.texts[0] and "products forecast" in http.texts[0]


# --------------------------------------------------------------------------- failure
def test_failing_run_notifies_once_skips_later_steps_and_raises(tmp_path, sinks, notifier):
    http, smtp = sinks
    ran_after = []
    with (
        pytest.raises(BatchFailed) as info,
        BatchRun(
            name="monthly",
            log_dir=tmp_path,
            notifier=notifier,
            console=io.StringIO(),
            planned_steps=["prepare", "exit-three", "after", "report"],
        ) as run,
    ):
        run.step("prepare", [PY, "-c", "print('preparing')"])
        run.step("exit-three", BOOM)
        run.step("after", lambda: ran_after.append(1))  # never reached
    failure = info.value
    assert failure.exit_code == 1  # what the CLI exits with
    assert failure.step_name == "exit-three" and failure.step_exit_code == 3
    assert failure.run_id == run.run_id and "exit code 3" in str(failure)
    assert ran_after == []
    assert run.status == "failed"

    # exactly one webhook message and one e-mail, with the step name and the log tail
    assert len(http.requests) == 1 and len(smtp.messages) == 2  # one alert: a message per recipient
    (text,) = http.texts
    body, same_body = smtp.bodies()  # the same message to each of the two recipients
    assert body == same_body
    mails = smtp.parsed()
    for content in (text, body):
        assert "exit-three" in content and run.run_id in content
        assert "boom" in content and "exit code 3" in content
    assert all("exit-three" in mail["Subject"] for mail in mails)
    assert [r.ok for r in run.notifications] == [True, True]

    log = run.log_path.read_text(encoding="utf-8")
    assert "FAILED step exit-three: exit code 3" in log
    assert "hint:" in log
    assert "SKIPPED step 3 after" in log and "SKIPPED step 4 report" in log
    assert "notification sent via webhook" in log and "notification sent via email" in log
    assert f"run {run.run_id} FAILED" in log

    metrics = read_jsonl(tmp_path / "run_metrics.jsonl")
    assert [(m["step_name"], m["status"], m["exit_code"]) for m in metrics] == [
        ("prepare", "ok", 0),
        ("exit-three", "failed", 3),
        ("after", "skipped", None),
        ("report", "skipped", None),
    ]
    assert metrics == run.metrics
    summary = run.print_summary(file=io.StringIO())
    assert "FAILED at step exit-three: exit code 3" in summary and "skipped" in summary


def test_steps_after_a_caught_failure_are_skipped_and_the_run_still_fails(tmp_path, sinks, notifier):
    http, smtp = sinks
    ran = []
    with pytest.raises(BatchFailed), BatchRun(log_dir=tmp_path, notifier=notifier, console=io.StringIO()) as run:
        with pytest.raises(BatchFailed):
            run.step("exit-three", BOOM)
        result = run.step("later", lambda: ran.append(1))
        assert result.status == "skipped"
    assert ran == []
    assert [(m["step_name"], m["status"]) for m in run.metrics] == [("exit-three", "failed"), ("later", "skipped")]
    assert len(http.requests) == 1 and len(smtp.messages) == 2  # one alert: a message per recipient


def test_python_step_exception_fails_the_run(tmp_path, sinks, notifier):
    http, _ = sinks

    def broken():
        raise ValueError("forecast horizon must be positive")

    with pytest.raises(BatchFailed) as info:
        with BatchRun(log_dir=tmp_path, notifier=notifier, console=io.StringIO()) as run:
            run.step("dashboard", broken)
    assert info.value.error == "ValueError: forecast horizon must be positive"
    (m,) = run.metrics
    assert (m["status"], m["exit_code"], m["kind"]) == ("failed", 1, "python")
    log = run.log_path.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log
    assert "FAILED step dashboard: ValueError: forecast horizon must be positive" in log
    assert len(http.requests) == 1 and "forecast horizon must be positive" in http.texts[0]


def test_exception_outside_a_step_is_reported_as_batch_failure(tmp_path, sinks, notifier):
    http, smtp = sinks
    with (
        pytest.raises(BatchFailed) as info,
        BatchRun(log_dir=tmp_path, notifier=notifier, console=io.StringIO(), planned_steps=["load", "report"]) as run,
    ):
        run.step("load", [PY, "-c", "pass"])
        {}["missing_key"]
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.step_name is None
    assert [(m["step_name"], m["status"]) for m in run.metrics] == [("load", "ok"), ("report", "skipped")]
    assert len(http.requests) == 1 and len(smtp.messages) == 2  # one alert: a message per recipient
    assert "KeyError" in http.texts[0]
    assert "FAILED outside a step (after step load)" in run.log_path.read_text(encoding="utf-8")


def test_interrupt_inside_a_step_is_logged_notified_and_propagated(tmp_path, sinks, notifier):
    http, smtp = sinks

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with BatchRun(log_dir=tmp_path, notifier=notifier, console=io.StringIO(), planned_steps=["x", "y"]) as run:
            run.step("x", interrupted)
    assert [(m["step_name"], m["status"]) for m in run.metrics] == [("x", "failed"), ("y", "skipped")]
    assert run.status == "failed" and run.failure.step_name == "x"
    assert len(http.requests) == 1 and len(smtp.messages) == 2  # one alert: a message per recipient
    assert "interrupted (KeyboardInterrupt)" in http.texts[0]


def test_uncaught_batch_failure_exits_the_process_non_zero(tmp_path):
    script = (
        "import sys\n"
        "from demand_forecast.ops.runlog import BatchRun\n"
        "with BatchRun(log_dir=sys.argv[1]) as run:\n"
        "    run.step('exit-three', [sys.executable, '-c', 'import sys; sys.exit(3)'])\n"
    )
    import subprocess

    proc = subprocess.run([PY, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "BatchFailed" in proc.stderr and "FAILED step exit-three: exit code 3" in proc.stdout


def test_unreachable_webhook_does_not_mask_the_failure(tmp_path):
    notifier = Notifier.from_env({"DEMAND_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{closed_port()}/hook"})
    with pytest.raises(BatchFailed) as info:
        with BatchRun(log_dir=tmp_path, notifier=notifier, console=io.StringIO()) as run:
            run.step("exit-three", BOOM)
    assert info.value.step_name == "exit-three" and info.value.step_exit_code == 3
    assert [r.ok for r in run.notifications] == [False]
    log = run.log_path.read_text(encoding="utf-8")
    assert "WARNING notification via webhook FAILED" in log
    assert "FAILED step exit-three: exit code 3" in log


def test_no_notifier_still_fails_loudly(tmp_path):
    with pytest.raises(BatchFailed), BatchRun(log_dir=tmp_path, console=io.StringIO()) as run:
        run.step("exit-three", BOOM)
    assert "nobody was notified" in run.log_path.read_text(encoding="utf-8")


def test_command_not_found(tmp_path):
    with pytest.raises(BatchFailed) as info, BatchRun(log_dir=tmp_path, console=io.StringIO()) as run:
        run.step("edr report", ["definitely-not-a-command-4c1f", "report"])
    assert info.value.step_exit_code == 127
    assert "command not found: definitely-not-a-command-4c1f" in info.value.error


def test_timeout_kills_the_step(tmp_path):
    pid_file = tmp_path / "child.pid"
    hang = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    with pytest.raises(BatchFailed) as info, BatchRun(log_dir=tmp_path, console=io.StringIO()) as run:
        run.step("hang", [PY, "-c", hang], timeout_s=3)
    assert "timed out after 3 s" in info.value.error
    # the child had started (3 s is ample to write its pid) and the timeout killed it
    assert not Path(f"/proc/{pid_file.read_text()}").exists()
    assert run.metrics[0]["status"] == "failed"


def test_subprocess_peak_memory_is_per_child(tmp_path):
    # the peak is polled from /proc while the step runs (every 0.1 s at most): hold it for a moment
    code = "import time; x = bytearray(120 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); time.sleep(0.5)"
    with BatchRun(log_dir=tmp_path, console=io.StringIO()) as run:
        run.step("big", [PY, "-c", code])
        run.step("small", [PY, "-c", "pass"])
    big, small = (m["peak_memory_mb"] for m in run.metrics)
    assert big > 120 > small


# --------------------------------------------------------------------------- dbt steps
def _write_run_results(target: Path, results: list[dict]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    (target / "run_results.json").write_text(
        json.dumps(
            {
                "metadata": {"dbt_version": "1.11.0", "generated_at": "2026-11-29T00:00:00Z", "invocation_id": "abc"},
                "args": {"which": "build"},
                "elapsed_time": 12.5,
                "results": results,
            }
        ),
        encoding="utf-8",
    )


RESULTS = [
    {
        "unique_id": "model.demand_forecast.fct_forecasts",
        "status": "success",
        "message": "OK",
        "failures": None,
        "execution_time": 1.0,
    },
    {
        "unique_id": "model.demand_forecast.fct_accuracy",
        "status": "error",
        "message": "Runtime Error in model fct_accuracy\n  Binder Error: column x not found",
        "failures": None,
        "execution_time": 0.2,
    },
    {"unique_id": "model.demand_forecast.rpt_dashboard", "status": "skipped", "message": None, "failures": None},
    {
        "unique_id": "test.demand_forecast.not_null_fct_forecasts_forecast_p50.5c1e2b3a4d",
        "status": "fail",
        "message": "Got 3 results, configured to fail if != 0",
        "failures": 3,
    },
    {
        "unique_id": "test.demand_forecast.accepted_range_fct_forecasts_mape.0a1b2c3d4e",
        "status": "warn",
        "message": "Got 1 result, configured to warn if != 0",
        "failures": 1,
    },
    {"unique_id": "test.demand_forecast.assert_no_future_sales", "status": "pass", "message": None, "failures": 0},
    {
        "unique_id": "unit_test.demand_forecast.fct_forecasts.test_horizon",
        "status": "pass",
        "message": None,
        "failures": 0,
    },
    {"unique_id": "seed.demand_forecast.calendar", "status": "success", "message": "INSERT 12", "failures": None},
]


def test_parse_run_results_counts_and_messages(tmp_path):
    _write_run_results(tmp_path / "target", RESULTS)
    summary = load_run_results(tmp_path)
    assert summary is not None and summary.command == "build"
    assert (summary.models_ok, summary.models_error, summary.models_skipped) == (1, 1, 1)
    assert (summary.tests_pass, summary.tests_warn, summary.tests_fail, summary.tests_error) == (1, 1, 1, 0)
    assert not summary.ok
    assert [n.describe() for n in summary.failures] == [
        "dbt model fct_accuracy error: Runtime Error in model fct_accuracy Binder Error: column x not found",
        "dbt test not_null_fct_forecasts_forecast_p50 failed: 3 rows",
    ]
    assert [n.describe() for n in summary.warnings] == ["dbt test accepted_range_fct_forecasts_mape warned: 1 row"]
    lines = dict(summary.summary_lines())
    assert lines["dbt models ok/error"] == "1/1 (1 skipped)"
    assert lines["dbt tests pass/warn/fail/error"] == "1/1/1/0"
    assert lines["dbt unit tests pass/fail"] == "1/0"
    assert lines["dbt seeds ok/error"] == "1/0"
    assert summary.tests_line() == "1 passed, 1 warned, 1 failed, 0 errored"
    assert summarize_run_results(tmp_path / "target" / "run_results.json").tests_line() == summary.tests_line()
    assert parse_run_results({"results": []}).ok
    assert load_run_results(tmp_path / "nowhere") is None
    assert run_results_path(tmp_path, "/abs/target") == Path("/abs/target/run_results.json")


def test_failed_dbt_step_names_the_failing_nodes(tmp_path, sinks, notifier):
    http, smtp = sinks
    project = tmp_path / "project"
    writer = (
        "import json, pathlib, sys; t = pathlib.Path(sys.argv[1]) / 'target'; "
        "t.mkdir(parents=True, exist_ok=True); "
        "(t / 'run_results.json').write_text(sys.argv[2]); print('Completed with 1 error'); sys.exit(1)"
    )
    results = json.dumps({"metadata": {}, "args": {"which": "build"}, "results": RESULTS[3:4]})
    with pytest.raises(BatchFailed) as info:
        with BatchRun(log_dir=tmp_path / "logs", notifier=notifier, console=io.StringIO()) as run:
            run.step("dbt build 2026-10", [PY, "-c", writer, str(project), results], dbt_project_dir=project)
    expected = "dbt test not_null_fct_forecasts_forecast_p50 failed: 3 rows"
    assert info.value.error == f"exit code 1: {expected}"
    assert f"FAILED step dbt build 2026-10: exit code 1: {expected}" in run.log_path.read_text(encoding="utf-8")
    assert expected in http.texts[0] and expected in smtp.bodies()[0]


def test_stale_run_results_are_ignored_and_dbt_is_detected_by_name(tmp_path):
    project = tmp_path / "project"
    _write_run_results(project / "target", RESULTS)
    old = time.time() - 3600
    os.utime(project / "target" / "run_results.json", (old, old))
    fake_dbt = tmp_path / "bin" / "dbt"  # a "dbt" executable that fails without writing results
    fake_dbt.parent.mkdir()
    fake_dbt.write_text(f"#!{PY}\nimport sys\nprint('Encountered an error: bad profile')\nsys.exit(2)\n")
    fake_dbt.chmod(fake_dbt.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(BatchFailed) as info, BatchRun(log_dir=tmp_path / "logs", console=io.StringIO()) as run:
        run.step("dbt build", [str(fake_dbt), "build"], cwd=project)
    assert info.value.error == "exit code 2"  # the old failures are not blamed
    assert "dbt could not run" in run.log_path.read_text(encoding="utf-8")


def test_add_dbt_summary(tmp_path):
    _write_run_results(tmp_path / "target", RESULTS)
    with BatchRun(log_dir=tmp_path / "logs", console=io.StringIO()) as run:
        run.add_dbt_summary(tmp_path)
    labels = dict(run.summary_lines)
    assert labels["dbt tests pass/warn/fail/error"] == "1/1/1/0"
    assert "dbt tests pass/warn/fail/error" in run.print_summary(file=io.StringIO())


# --------------------------------------------------------------------------- DuckDB
def test_write_metrics_to_duckdb_is_idempotent_per_run_and_step(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    with pytest.raises(BatchFailed):
        with BatchRun(log_dir=tmp_path, console=io.StringIO(), planned_steps=["a", "b", "c"]) as run:
            run.step("a", [PY, "-c", "pass"], rows=10)
            run.write_metrics_to_duckdb(db)  # between steps, as the lead will call it
            run.step("b", BOOM)

    assert write_metrics_to_duckdb(db, run.metrics) == 3
    assert write_metrics_to_duckdb(db, run.metrics) == 3  # again: no duplicates
    with duckdb.connect(str(db)) as con:
        rows = con.execute(
            'select step_name, status, exit_code, "rows", started_at from ops.batch_step_metrics '
            "where run_id = ? order by step_index",
            [run.run_id],
        ).fetchall()
        assert [r[:4] for r in rows] == [("a", "ok", 0, 10), ("b", "failed", 3, None), ("c", "skipped", None, None)]
        assert isinstance(rows[0][4], datetime) and rows[0][4].tzinfo is None  # naive UTC

    other = [dict(m, run_id=new_run_id()) for m in run.metrics[:1]]
    write_metrics_to_duckdb(db, other)
    with duckdb.connect(str(db)) as con:
        assert con.execute("select count(*) from ops.batch_step_metrics").fetchone() == (4,)
        assert con.execute("select count(distinct run_id) from ops.batch_step_metrics").fetchone() == (2,)


def test_metrics_db_is_written_on_exit_even_after_a_failure(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    with pytest.raises(BatchFailed), BatchRun(log_dir=tmp_path, console=io.StringIO(), metrics_db=db) as run:
        run.step("exit-three", BOOM)
    with duckdb.connect(str(db)) as con:
        assert con.execute("select step_name, status from ops.batch_step_metrics").fetchall() == [
            ("exit-three", "failed")
        ]


def test_run_level_dbt_project_dir_is_used_for_dbt_commands(tmp_path):
    project = tmp_path / "project"
    fake_dbt = tmp_path / "bin" / "dbt"
    fake_dbt.parent.mkdir()
    fake_dbt.write_text(
        f"#!{PY}\nimport json, pathlib, sys\n"
        f"t = pathlib.Path({str(project)!r}) / 'target'; t.mkdir(parents=True, exist_ok=True)\n"
        f"(t / 'run_results.json').write_text(json.dumps({{'results': {RESULTS[1:2]!r}}}))\n"
        "sys.exit(1)\n"
    )
    fake_dbt.chmod(fake_dbt.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(BatchFailed) as info:
        with BatchRun(log_dir=tmp_path / "logs", console=io.StringIO(), dbt_project_dir=project) as run:
            run.step("dbt build", [str(fake_dbt), "build"], cwd=tmp_path)
    assert "dbt model fct_accuracy error: Runtime Error" in info.value.error


def test_step_outside_the_with_block_is_an_error(tmp_path):
    run = BatchRun(log_dir=tmp_path)
    with pytest.raises(RuntimeError):
        run.step("x", [PY, "-c", "pass"])
