"""The Spark executor through Spark Connect: a server on 127.0.0.1 started by the test.

PySpark ships the Spark Connect server's jar, so ``spark-submit --class ...SparkConnectServer``
starts one without any download.  A Python process holds classic SparkSessions or Spark Connect
ones, not both (PySpark refuses the second kind), so the forecasting client runs in a child process,
as a dbt build would.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
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


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory):
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
        server = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while b"start GRPC service" not in log.read_bytes():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the Spark Connect server did not start; its log:\n{log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(1)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
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
def test_through_spark_connect_the_run_equals_the_local_one(connect_url, tmp_path) -> None:
    saved = tmp_path / "result.pickle"
    here = str(Path(__file__).parent)
    client = subprocess.run(
        [sys.executable, "-c", CLIENT, here, connect_url, str(saved)], capture_output=True, text=True, timeout=900
    )
    assert client.returncode == 0, client.stderr[-3000:]
    with open(saved, "rb") as stored:
        got = pickle.load(stored)
    frame, profiles, as_of = mixed_panel(n_products=36, n_months=38, seed=9)
    assert_same_run(got, run_forecasting(frame, profiles, as_of, ForecastConfig(n_jobs=1)))
