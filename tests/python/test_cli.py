"""The `demand-forecast` command: every subcommand is listed, has its own --help, and runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from demand_forecast.cli import COMMANDS, main

FIXTURES = Path(__file__).parent / "fixtures"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The installed console script when there is one (what a user types), else the module."""
    script = shutil.which("demand-forecast") or str(Path(sys.executable).with_name("demand-forecast"))
    command = [script] if Path(script).exists() else [sys.executable, "-m", "demand_forecast.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_lists_every_command():
    result = _cli("--help")
    assert result.returncode == 0, result.stderr
    for name in ("run", "import", "generate", "dashboard", "report"):
        assert name in COMMANDS
        assert f"    {name}" in result.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_has_its_own_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: demand-forecast {command}")


def test_unknown_command_is_refused_with_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["forecast-everything"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_generate_then_import_through_the_command(tmp_path):
    generated = _cli(
        "generate",
        "--out",
        str(tmp_path / "gen"),
        "--products",
        "5",
        "--years",
        "2",
        "--end-date",
        "2025-12-31",
        "--quiet",
    )
    assert generated.returncode == 0, generated.stderr
    products = pd.read_parquet(tmp_path / "gen" / "raw" / "products")
    assert len(products) == 5

    imported = _cli(
        "import",
        "--input",
        str(FIXTURES / "import_monthly.csv"),
        "--out",
        str(tmp_path / "imp"),
        "--id-col",
        "series_id",
        "--date-col",
        "date",
        "--qty-col",
        "quantity",
    )
    assert imported.returncode == 0, imported.stderr
    assert "series" in imported.stderr
    assert list((tmp_path / "imp" / "raw" / "sales_lines").glob("*.parquet"))


def test_bad_arguments_exit_non_zero_with_a_message(tmp_path):
    result = _cli("generate", "--out", str(tmp_path), "--end-date", "2025-13-40")
    assert result.returncode == 2
    assert "--end-date must be YYYY-MM-DD" in result.stderr


def test_old_module_spelling_still_works(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "demand_forecast.synthetic.datagen",
            "--out",
            str(tmp_path),
            "--products",
            "3",
            "--years",
            "1",
            "--end-date",
            "2025-12-31",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "raw" / "products").is_dir()


def test_top_level_help_imports_no_command_module():
    """`demand-forecast --help` stays quick: no command's module (dbt, statsmodels, plotly...) is imported."""
    code = (
        "import sys\n"
        "from demand_forecast.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [m for m in ('demand_forecast.ops.batch', 'demand_forecast.dashboard', "
        "'demand_forecast.synthetic.datagen', 'demand_forecast.data.importer') if m in sys.modules]\n"
        "print('LOADED', loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "LOADED []" in result.stdout, result.stdout + result.stderr
