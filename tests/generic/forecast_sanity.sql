{#- Sanity checks that stop bad forecasts before purchasing sees them. Each applies to the latest
    as-of month of a forecast table (product_id, as_of_month, horizon, forecast_p10/p50/p90,
    is_selected) and returns the offending rows, which `store_failures` keeps for the report. -#}



{% test forecast_has_every_horizon(model, profiles, horizons) %}
{#- Every product that is not discontinued has exactly `horizons` selected forecasts. -#}
with forecasts as ({{ latest_selected_forecasts(model) }}),
expected as (
    select product_id from {{ profiles }} where lifecycle <> 'discontinued'
),
counted as (
    select product_id, count(distinct horizon) as n_horizons, count(*) as n_rows
    from forecasts
    group by product_id
)
select
    coalesce(expected.product_id, counted.product_id) as product_id,
    coalesce(counted.n_horizons, 0) as n_horizons,
    coalesce(counted.n_rows, 0) as n_rows,
from expected
full outer join counted
    on expected.product_id = counted.product_id
where coalesce(counted.n_horizons, 0) <> {{ horizons }}
    or coalesce(counted.n_rows, 0) <> {{ horizons }}
{% endtest %}


{% test forecast_values_are_valid(model) %}
{#- No null, negative or non-finite quantile, and P10 <= P50 <= P90. -#}
with forecasts as ({{ latest_selected_forecasts(model) }})
select
    *,
    case
        when forecast_p10 is null or forecast_p50 is null or forecast_p90 is null then 'null value'
        when not (isfinite(forecast_p10) and isfinite(forecast_p50) and isfinite(forecast_p90)) then 'non-finite value'
        when forecast_p10 < 0 or forecast_p50 < 0 or forecast_p90 < 0 then 'negative value'
        else 'quantiles out of order'
    end as failure,
from forecasts
where forecast_p10 is null or forecast_p50 is null or forecast_p90 is null
    or not (isfinite(forecast_p10) and isfinite(forecast_p50) and isfinite(forecast_p90))
    or forecast_p10 < 0 or forecast_p50 < 0 or forecast_p90 < 0
    or forecast_p10 > forecast_p50 or forecast_p50 > forecast_p90
{% endtest %}


{% test forecast_below_history_multiple(model, profiles, multiple, min_history_months=6) %}
{#- No P50 above `multiple` times the largest monthly demand seen so far (at least 1 unit). For an
    established product that is its own largest month; a product with fewer than `min_history_months`
    months (a launch month is often partial) is held against the largest month of any product of its
    group instead. -#}
with forecasts as ({{ latest_selected_forecasts(model) }}),
group_maxima as (
    select product_group, max(max_monthly_demand) as group_max_monthly_demand,
    from {{ profiles }}
    group by product_group
),
limits as (
    select
        profiles.product_id,
        profiles.history_months,
        profiles.max_monthly_demand,
        case
            when coalesce(profiles.history_months, 0) >= {{ min_history_months }}
                then coalesce(profiles.max_monthly_demand, 0)
            else coalesce(group_maxima.group_max_monthly_demand, profiles.max_monthly_demand, 0)
        end as reference_demand,
    from {{ profiles }} as profiles
    left join group_maxima
        on profiles.product_group = group_maxima.product_group
)
select
    forecasts.product_id,
    forecasts.horizon,
    forecasts.forecast_p50,
    limits.history_months,
    limits.max_monthly_demand,
    limits.reference_demand,
    {{ multiple }} * greatest(coalesce(limits.reference_demand, 0), 1) as limit_value,
from forecasts
left join limits
    on forecasts.product_id = limits.product_id
where forecasts.forecast_p50 > {{ multiple }} * greatest(coalesce(limits.reference_demand, 0), 1)
{% endtest %}


{% test forecast_total_within_band(model, panel, band) %}
{#- Next month's total P50 lies within [min x (1 - band), max x (1 + band)] of the monthly totals
    of the last 12 months. -#}
with forecasts as ({{ latest_selected_forecasts(model) }}),
next_month as (
    select any_value(as_of_month) as as_of_month, sum(forecast_p50) as total_forecast
    from forecasts
    where horizon = 1
),
monthly_totals as (
    select month, sum(demand) as total_demand
    from {{ panel }}
    where month > (select as_of_month from next_month) - interval 12 month
        and month <= (select as_of_month from next_month)
    group by month
),
band as (
    select
        min(total_demand) * (1 - {{ band }}) as lower_bound,
        max(total_demand) * (1 + {{ band }}) as upper_bound,
    from monthly_totals
)
select next_month.*, band.*
from next_month
cross join band
where next_month.total_forecast is not null
    and (next_month.total_forecast < band.lower_bound or next_month.total_forecast > band.upper_bound)
{% endtest %}
