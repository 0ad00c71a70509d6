"""The Spark executor through Spark Connect: a server on 127.0.0.1 started by the test.

PySpark ships the Spark Connect server's jar, so ``spark-submit --class ...SparkConnectServer``
starts one without any download.  A Python process holds classic SparkSessions or Spark Connect
ones, not both (PySpark refuses the second kind), so the forecasting client runs in a child process,
as a dbt build would.  One ``dbt build`` with ``forecast_executor: spark`` and ``spark_remote``
runs on 40 generated products against the same server.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT, batch_environment
from forecast_synth import mixed_panel
from test_spark_executor import assert_same_run

from demand_forecast.forecasting.config import ForecastConfig
from demand_forecast.forecasting.executor import THREAD_ENV_VARS
from demand_forecast.forecasting.pipeline import run_forecasting

CONNECT_SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


BIND_ERROR = b"Error starting Spark Connect server"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _settled(server: subprocess.Popen, log: Path) -> bool:
    """Still running a second later, without a bind error in its log."""
    time.sleep(1)
    return server.poll() is None and BIND_ERROR not in log.read_bytes()


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    """A Spark Connect server on 127.0.0.1 (PySpark ships its jar), started here and stopped after the module."""
    try:
        import pyspark
    except ImportError:
        pytest.fail("pyspark is missing: install the optional extra (pip install -e '.[spark]'; make test does)")
    home = Path(pyspark.__file__).parent
    port = _free_port()
    workdir = tmp_path_factory.mktemp("spark-connect")
    log = workdir / "server.log"
    env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    env.update(dict.fromkeys(THREAD_ENV_VARS, "1"))
    command = [
        str(home / "bin" / "spark-submit"),
        "--class",
        CONNECT_SERVER,
        "--master",
        "local[2,3]",
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        "spark.ui.enabled=false",
    ]
    with open(log, "wb") as out:
        # its own process group: spark-submit's script and the JVM it starts are stopped together
        server = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 300
        # the server logs "start GRPC service" before it binds the port: ready is listening, still running,
        # and no bind error (another process may have taken the free port meanwhile: then fail, not hang)
        while not (_listening(port) and b"start GRPC service" in log.read_bytes() and _settled(server, log)):
            if server.poll() is not None or time.monotonic() > deadline or BIND_ERROR in log.read_bytes():
                pytest.fail(
                    f"the Spark Connect server did not start; its log:\n{log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(1)
        yield {"url": f"sc://127.0.0.1:{port}", "log": log}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


CLIENT = """
import pickle, sys
sys.path.insert(0, sys.argv[1])
from forecast_synth import mixed_panel
from demand_forecast.forecasting.config import ForecastConfig
from demand_forecast.forecasting.pipeline import run_forecasting
frame, profiles, as_of = mixed_panel(n_products=36, n_months=38, seed=9)
config = ForecastConfig(n_jobs=1, forecast_executor="spark", spark_remote=sys.argv[2])
with open(sys.argv[3], "wb") as out:
    pickle.dump(run_forecasting(frame, profiles, as_of, config), out)
"""


@pytest.mark.slow
def test_through_spark_connect_the_run_equals_the_local_one(connect_server, tmp_path) -> None:
    saved = tmp_path / "result.pickle"
    here = str(Path(__file__).parent)
    client = subprocess.run(
        [sys.executable, "-c", CLIENT, here, connect_server["url"], str(saved)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert client.returncode == 0, client.stderr[-3000:]
    with open(saved, "rb") as stored:
        got = pickle.load(stored)
    frame, profiles, as_of = mixed_panel(n_products=36, n_months=38, seed=9)
    assert_same_run(got, run_forecasting(frame, profiles, as_of, ForecastConfig(n_jobs=1)))


def _group_maps_run(log: Path) -> int:
    """Python group-map tasks the server has started (its log line for each)."""
    return log.read_text(errors="replace").count("FlatMapGroupsInBatchExec$$anon$1: Starting Python task")


@pytest.mark.slow
@pytest.mark.dbt
def test_a_dbt_build_with_the_spark_executor_passes_every_test(connect_server, tmp_path) -> None:
    data = tmp_path / "data"
    generate = ["generate", "--out", str(data), "--products", "40", "--years", "3", "--seed", "42", "--quiet"]
    subprocess.run([sys.executable, "-m", "demand_forecast.cli", *generate], check=True, capture_output=True)
    for folder in ("warehouse", "exports"):
        (tmp_path / folder).mkdir()
    env = batch_environment(tmp_path, data)
    before = _group_maps_run(connect_server["log"])
    variables = f'{{forecast_executor: spark, spark_remote: "{connect_server["url"]}", n_jobs: 1}}'
    dbt = str(Path(sys.executable).with_name("dbt"))
    command = [dbt, "build", "--vars", variables, "--target-path", str(tmp_path / "target")]
    build = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0 and " ERROR=0 " in build.stdout, build.stdout[-4000:] + build.stderr[-2000:]
    assert _group_maps_run(connect_server["log"]) > before  # the per-series fits ran on the server
    with duckdb.connect(str(tmp_path / "warehouse" / "demand.duckdb"), read_only=True) as con:
        fitted = con.sql(
            "select model_name, cast(params_json->>'n_fitted' as int) from marts.fct_model_registry"
            " where model_name in ('ets', 'theta') order by model_name"
        ).fetchall()
    assert [name for name, _ in fitted] == ["ets", "theta"] and all(n > 0 for _, n in fitted)
