"""The ``demand-forecast`` command: one entry point for everything a user runs.

.. code-block:: console

    demand-forecast run [--replay-months N] [--as-of YYYY-MM] [--skip-reports]
    demand-forecast import --input sales.csv --out data --id-col sku --date-col day --qty-col units
    demand-forecast generate --out data --products 200 --years 4
    demand-forecast dashboard --warehouse warehouse/demand.duckdb --out reports/dashboard.html
    demand-forecast report [--out reports/elementary_report.html]

Each subcommand's options live beside its code (``add_arguments``/``run`` in the module named by
``COMMANDS``); a module is imported only when its command is used, so ``--help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: command -> (module, add-arguments function, run function, one-line help)
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "run": (
        "demand_forecast.ops.batch",
        "add_arguments",
        "run",
        "the monthly batch: dbt build per as-of month, then the Elementary report and the dashboard",
    ),
    "import": (
        "demand_forecast.data.importer",
        "add_arguments",
        "run",
        "turn a long sales file (CSV or parquet) into the raw contract folders",
    ),
    "generate": (
        "demand_forecast.synthetic.datagen",
        "add_arguments",
        "run",
        "write the synthetic default dataset (with its ground truth) in the raw contract",
    ),
    "dashboard": (
        "demand_forecast.dashboard",
        "add_arguments",
        "run",
        "build the static purchasing dashboard (one HTML file) from the marts",
    ),
    "report": (
        "demand_forecast.ops.batch",
        "add_report_arguments",
        "run_report",
        "write the Elementary report of the warehouse's last runs",
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported to add its options (all of them when None)."""
    parser = argparse.ArgumentParser(
        prog="demand-forecast",
        description="Monthly demand forecasting as a dbt project: batch, data import, synthetic data, reports.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, add_name, _run, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if command in (None, name):
            getattr(importlib.import_module(module), add_name)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wanted = next((arg for arg in argv if not arg.startswith("-")), None)
    parser = build_parser(wanted if wanted in COMMANDS else "")
    args = parser.parse_args(argv)
    module, _add, run_name, _help = COMMANDS[args.command]
    return int(getattr(importlib.import_module(module), run_name)(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
