"""What a warning on the dashboard means and what to do about it, in words.

The data health section lists the tests of the last dbt run that did not pass. A test name such as
``volume_anomalies`` says little to a purchaser, so each known test gets a sentence on what it
found and one on what to do; unknown tests get a generic pair that still points to the rows.
"""

from __future__ import annotations

from typing import Any

REPORT = "Open the Elementary report (link above) for the failing rows"

#: test short name -> (what it means, what to do); ``{table}``, ``{column}``, ``{failures}`` are filled in.
TEST_EXPLANATIONS: dict[str, tuple[str, str]] = {
    "volume_anomalies": (
        "The number of rows of {table} per month is outside the range learned from earlier months.",
        "If a load was partial or doubled, fix the raw files and rerun the month; if the change is real "
        "(more products, a longer replay), nothing to do: the monitor learns the new level.",
    ),
    "dimension_anomalies": (
        "The rows per value of a dimension of {table} (for example a product group) moved far from their "
        "usual level: a group stopped selling or doubled.",
        "Check that the sales lines of the named values arrived in full; if products moved between groups "
        "on purpose, nothing to do.",
    ),
    "column_anomalies": (
        "A statistic of {table}.{column} (an average, a sum or a count of zeros) left its usual range.",
        "Compare the last raw files with the previous ones: a wrong unit or a missing file shows here first.",
    ),
    "all_columns_anomalies": (
        "A statistic of a column of {table} left its usual range.",
        "Compare the last raw files with the previous ones: a wrong unit or a missing file shows here first.",
    ),
    "freshness_anomalies": (
        "{table} was updated later than usual.",
        "Check that this month's raw files were delivered; rerun the batch when they are.",
    ),
    "schema_changes": (
        "Columns of {table} were added, removed or changed type.",
        "If the raw files changed format on purpose, update the raw contract (docs/contracts.md) and the "
        "staging model; otherwise ask the data supplier to restore the columns.",
    ),
    "not_null": (
        "{table}.{column} is empty in {failures} rows where a value is required.",
        f"{REPORT}; fix the source rows or the model and rerun the batch.",
    ),
    "unique": (
        "{table}.{column} repeats in {failures} rows where each value must appear once.",
        "Usually a file loaded twice: remove the duplicate and rerun the month.",
    ),
    "unique_combination_of_columns": (
        "{table} has {failures} duplicated keys.",
        "Usually a file loaded twice or a month built twice: remove the duplicate and rerun the month.",
    ),
    "accepted_values": (
        "{table}.{column} holds a value outside the allowed list in {failures} rows.",
        "A new code in the source? If it is valid, add it to the list in the model's yml; else fix the source.",
    ),
    "relationships": (
        "{failures} rows of {table} refer to a {column} that the referenced table does not have.",
        "Usually a product missing from the products file: add it and rerun the batch.",
    ),
    "expression_is_true": (
        "{failures} rows of {table} break a rule the model guarantees.",
        f"{REPORT} and the rule; fix the input or the model and rerun.",
    ),
    "accepted_range": (
        "{failures} values of {table}.{column} are outside their allowed range.",
        f"{REPORT}; a wrong quantity or unit in the source is the usual cause.",
    ),
    "forecast_has_every_horizon": (
        "{failures} products of the latest forecast miss one of the next months.",
        "Do not order from this forecast for those products; rerun the batch and check the forecasting step.",
    ),
    "forecast_values_are_valid": (
        "{failures} forecast rows are negative, empty or have P10 > P50 > P90 out of order.",
        "Do not order from those rows; rerun the batch and report the products to the forecasting team.",
    ),
    "forecast_below_history_multiple": (
        "{failures} forecasts are far above anything the product sold before.",
        "Check those products' history for a data error (a wrong quantity) before ordering.",
    ),
    "forecast_total_within_band": (
        "Next month's total forecast is far from the recent total demand.",
        "Check for a missing or doubled load of sales lines; do not order from this forecast until explained.",
    ),
    "seasonal_drift": (
        "The latest month's total of {table} departs from the same month last year (after the trend) by "
        "more than the tolerance.",
        "Check that the month's sales lines arrived in full; a real change in the market needs no action.",
    ),
    "assert_sales_lines_reconcile": (
        "Sales lines do not add up between raw, quarantined and accepted lines: the cleaning lost or doubled some.",
        f"{REPORT} and hand it to the data team; the demand of the affected month is not reliable.",
    ),
    "assert_quarantine_reasons_seed_matches_checks": (
        "The list of quarantine reasons and the checks of the cleaning model differ.",
        "A developer changed one without the other: align seeds and the cleaning model.",
    ),
}

_GENERIC = (
    "A data test on {table}{dot_column} did not pass ({failures} failing rows).",
    f"{REPORT}; fix the data or the model and rerun the batch.",
)

#: status -> what it means for the run
STATUS_MEANING = {
    "warn": "Warning: the run went on and published its tables.",
    "fail": "Failure: the rule is broken; models that depend on this table were not rebuilt.",
    "error": "Error: the test could not run (an SQL or connection error); see the batch log.",
    "runtime error": "Error: the test could not run (an SQL or connection error); see the batch log.",
}


def explain_test(row: dict[str, Any]) -> tuple[str, str]:
    """(what it means, what to do) for one row of elementary_test_results that did not pass."""
    name = str(row.get("test") or "")
    meaning, action = next(
        (TEST_EXPLANATIONS[key] for key in sorted(TEST_EXPLANATIONS, key=len, reverse=True) if key in name),
        _GENERIC,
    )
    failures = row.get("failures")
    values = {
        "table": row.get("table_name") or "a table",
        "column": row.get("column_name") or "a column",
        "dot_column": f".{row['column_name']}" if row.get("column_name") else "",
        "failures": f"{int(failures):,}" if isinstance(failures, (int, float)) and failures == failures else "some",
    }
    meaning = meaning.format(**values)
    status = STATUS_MEANING.get(str(row.get("status") or "").lower())
    if status:
        meaning = f"{status} {meaning}"
    return meaning, action.format(**values)


def explain_read_error(section: str, error: str) -> str:
    """The note shown when a section's tables could not be read."""
    return (
        f"Could not read {section}: {error}. This part of the page is left out. Rebuild the warehouse "
        "(demand-forecast run, or dbt build) and build the dashboard again; if it persists, the table's "
        "columns differ from what the dashboard reads (docs/dashboard.md lists them)."
    )


def explain_failed_step(step: dict[str, Any]) -> str:
    """The note under the batch table for a step that did not finish ok."""
    error = f" ({step['error']})" if step.get("error") else ""
    return (
        f"Step {step['step_name']} ended {step['status']}{error}: the tables it writes may be from the previous "
        "run. Read the batch log (logs/batch-<run id>.log), fix the cause and run the batch again."
    )
