"""Helpers shared by the benchmark scripts of ``scripts/bench/``; not a benchmark itself.

The scripts import them as ``import common as bench``; each lives in the module of its responsibility:

* :mod:`measure`: running a command or a block of code and measuring it (wall and CPU seconds, peak
  memory of the process tree, load average): ``run_measured``, ``RunStats``, ``Measured``,
  ``LoadSampler``, ``stats_line``.
* :mod:`project_runs`: the project run into a benchmark folder, never the user's warehouse: the data
  generator (``generate_dataset``, ``add_dataset_args``), dbt (``DbtPaths``, ``project_env``,
  ``run_dbt``, ``selection_args``), the project's vars and forecast config, queries on the warehouse.
* :mod:`dbt_timings`: the stage, start and end of each dbt node (``node_timings``), wall time and
  peak memory per stage.
* :mod:`printing`: tables that paste into markdown (``markdown_table``), section headings.
"""

from __future__ import annotations

from dbt_timings import STAGES, attributed_wall, node_timings, running_at, stage_peak_memory
from measure import (
    PAGE_SIZE,
    LoadSampler,
    Measured,
    RunStats,
    dir_size,
    load_summary,
    load_text,
    run_measured,
    stats_line,
    tail,
    tree_rss_bytes,
)
from printing import fmt, markdown_table, section
from project_runs import (
    BIN_DIR,
    MONITORING_EXCLUDE,
    REPO_DIR,
    SINGLE_THREADED,
    SRC_DIR,
    DbtPaths,
    add_dataset_args,
    dbt_command,
    dbt_env,
    default_work,
    ensure_package_importable,
    generate_dataset,
    project_env,
    project_forecast_config,
    project_vars,
    read_frames,
    run_dbt,
    selection_args,
    single_threaded_env,
)

__all__ = [
    "BIN_DIR",
    "MONITORING_EXCLUDE",
    "PAGE_SIZE",
    "REPO_DIR",
    "SINGLE_THREADED",
    "SRC_DIR",
    "STAGES",
    "DbtPaths",
    "LoadSampler",
    "Measured",
    "RunStats",
    "add_dataset_args",
    "attributed_wall",
    "dbt_command",
    "dbt_env",
    "default_work",
    "dir_size",
    "ensure_package_importable",
    "fmt",
    "generate_dataset",
    "load_summary",
    "load_text",
    "markdown_table",
    "node_timings",
    "project_env",
    "project_forecast_config",
    "project_vars",
    "read_frames",
    "run_dbt",
    "run_measured",
    "running_at",
    "section",
    "selection_args",
    "single_threaded_env",
    "stage_peak_memory",
    "stats_line",
    "tail",
    "tree_rss_bytes",
]
