"""The pre-commit hooks run what `make lint` runs: the same tools, the same config, one SQL script."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _hooks() -> dict[str, dict]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


def _lint_recipe() -> list[str]:
    """The commands of the Makefile's lint target, with make's variables resolved."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)
    assert match, "the Makefile has no lint target"
    lines = [line.strip().lstrip("@") for line in match.group(1).splitlines()]
    return [line.replace("$(VENV)", ".venv") for line in lines if not line.startswith("echo")]


def test_hooks_are_the_lint_targets_tools():
    hooks = _hooks()
    assert set(hooks) == {"ruff-check", "ruff-format", "sqlfluff-lint"}
    recipe = " && ".join(_lint_recipe())
    ruff_check = shlex.split(hooks["ruff-check"]["entry"])
    ruff_format = shlex.split(hooks["ruff-format"]["entry"])
    assert ruff_check[:2] == [".venv/bin/ruff", "check"]
    assert ruff_format[:2] == [".venv/bin/ruff", "format"]
    assert ".venv/bin/ruff check" in recipe
    assert ".venv/bin/ruff format" in recipe
    # Both read pyproject.toml's [tool.ruff]: neither side may point ruff at another config or rule set.
    for command in (ruff_check, ruff_format, shlex.split(recipe)):
        assert not any(arg.startswith(("--config", "--select", "--ignore", "--line-length")) for arg in command)
    # The SQL check is one script for both, so its options (dbt templater, throwaway warehouse) cannot drift.
    assert hooks["sqlfluff-lint"]["entry"] == "scripts/lint_sql.sh"
    assert "scripts/lint_sql.sh" in recipe
    script = (ROOT / "scripts/lint_sql.sh").read_text(encoding="utf-8")
    assert ".venv/bin/sqlfluff lint" in script
    assert "--dialect" not in script and "--templater" not in script, "dialect and templater belong in .sqlfluff"
    sqlfluff_cfg = (ROOT / ".sqlfluff").read_text(encoding="utf-8")
    assert re.search(r"^templater = dbt$", sqlfluff_cfg, flags=re.MULTILINE)
    assert re.search(r"^dialect = duckdb$", sqlfluff_cfg, flags=re.MULTILINE)


def test_sql_hook_sees_every_folder_make_lint_lints():
    pattern = re.compile(_hooks()["sqlfluff-lint"]["files"])
    script = (ROOT / "scripts/lint_sql.sh").read_text(encoding="utf-8")
    folders = re.search(r"set -- (.+)", script).group(1).split()
    assert folders == ["models", "tests", "macros", "analyses"]
    for folder in folders:
        assert pattern.search(f"{folder}/some/model.sql"), folder
    assert not pattern.search("models/schema.yml")
    assert not pattern.search("dbt_packages/elementary/models/x.sql")


def test_pre_commit_accepts_the_config():
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_hook_fails_on_a_finding(tmp_path):
    """The ruff hook's command, run as pre-commit runs it, rejects an unused import."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n", encoding="utf-8")
    entry = shlex.split(_hooks()["ruff-check"]["entry"])
    result = subprocess.run([*entry, str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "F401" in result.stdout
