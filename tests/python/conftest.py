"""Shared pytest configuration of tests/python (append only; keep it minimal)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: opens the dashboard in headless Chromium (scripts/ensure_chromium.sh installs it when missing)",
    )
    config.addinivalue_line(
        "markers",
        "dbt: runs dbt against a DuckDB file built from generated data (slow: minutes, not seconds)",
    )
    config.addinivalue_line(
        "markers",
        "slow: builds a warehouse or starts a browser; left out of `make test-fast`",
    )
