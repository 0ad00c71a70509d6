{#- Month-of-year aware drift check, which Elementary's anomaly tests lack (their seasonality is
    day-of-week or hour-of-day only, and their windows are measured from "now"). For the latest month
    of `model`, compares the total of `value_column` with the same month a year earlier, scaled by the
    year-over-year ratio of the 12 months before it (the trend). Fails when the latest month departs
    from that expectation by more than `tolerance` (a share, e.g. 0.5 = 50%). Needs 25 months of data;
    passes with less. Relative to the data's own last month, so it also works when a past month is
    replayed. -#}
{% test seasonal_drift(model, date_column, value_column, tolerance=0.5) %}
with monthly as (
    select
        cast(date_trunc('month', {{ date_column }}) as date) as month,
        sum({{ value_column }}) as total,
    from {{ model }}
    group by 1
),
latest as (
    select max(month) as month from monthly
),
trend as (
    -- year-over-year ratio over the 12 months before the latest one
    select sum(current_year.total) / nullif(sum(last_year.total), 0) as yoy_ratio,
    from monthly as current_year
    inner join monthly as last_year
        on last_year.month = current_year.month - interval 12 month
    cross join latest
    where current_year.month < latest.month
        and current_year.month >= latest.month - interval 12 month
),
expectation as (
    select
        latest.month,
        this_month.total as actual_total,
        same_month_last_year.total * trend.yoy_ratio as expected_total,
    from latest
    inner join monthly as this_month
        on this_month.month = latest.month
    inner join monthly as same_month_last_year
        on same_month_last_year.month = latest.month - interval 12 month
    cross join trend
    where (select count(*) from monthly) >= 25
)
select
    *,
    actual_total / nullif(expected_total, 0) - 1 as relative_deviation,
from expectation
where expected_total > 0
    and abs(actual_total / expected_total - 1) > {{ tolerance }}
{% endtest %}
