"""Operations: the monthly batch, its run log and metrics, notifications, reading dbt's results."""
