"""The dbt package install: hub first, then the offline mirror, else a clear error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).with_name("dbt"))
DEFAULT_MIRROR = Path(os.environ.get("DBT_PACKAGES_MIRROR", Path.home() / ".cache/dbt-packages-mirror"))


def _project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    for name in ("dbt_project.yml", "packages.yml"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "profiles", project / "profiles")
    shutil.copy(ROOT / "scripts/dbt_deps.sh", project / "scripts/dbt_deps.sh")
    return project


def _run(project: Path, mirror: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DBT": DBT, "DBT_PACKAGES_MIRROR": str(mirror), "DBT_DEPS_HUB_TIMEOUT": "60"}
    return subprocess.run(
        ["bash", "scripts/dbt_deps.sh", *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


def test_no_hub_and_no_mirror_fails_naming_the_folder(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    missing = tmp_path / "no-such-mirror"
    result = _run(project, missing, "--offline")
    assert result.returncode == 1
    assert str(missing) in result.stderr
    assert "elementary/" in result.stderr and "dbt_utils/" in result.stderr
    assert not (project / "dbt_packages" / "elementary").exists()


def test_mirror_without_elementary_version_is_rejected(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    mirror = tmp_path / "mirror"
    for package in ("elementary", "dbt_utils"):
        (mirror / package).mkdir(parents=True)
    (mirror / "elementary/dbt_project.yml").write_text('name: "elementary"\nversion: "0.20.0"\n')
    (mirror / "dbt_utils/dbt_project.yml").write_text("name: 'dbt_utils'\n")
    result = _run(project, mirror, "--offline")
    assert result.returncode == 1
    assert "0.20.0" in result.stderr and "0.25.1" in result.stderr


@pytest.mark.skipif(
    not (DEFAULT_MIRROR / "elementary/dbt_project.yml").exists(), reason="no offline mirror on this machine"
)
def test_installs_from_the_mirror_and_is_idempotent(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    first = _run(project, DEFAULT_MIRROR, "--offline")
    assert first.returncode == 0, first.stderr
    assert "offline mirror" in first.stdout
    assert (project / "dbt_packages/elementary/dbt_project.yml").exists()
    assert (project / "dbt_packages/dbt_utils/macros").is_dir()
    second = _run(project, DEFAULT_MIRROR, "--offline")
    assert second.returncode == 0
    assert "already installed" in second.stdout


def test_unreachable_hub_falls_back_and_fails_with_the_message(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    missing = tmp_path / "no-such-mirror"
    result = _run(project, missing)
    if result.returncode == 0 and "from the dbt hub" in result.stdout:
        pytest.skip("the dbt hub is reachable from this machine")
    assert result.returncode == 1
    assert "hub could not be reached" in result.stdout
    assert str(missing) in result.stderr
