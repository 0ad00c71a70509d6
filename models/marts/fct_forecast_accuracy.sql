-- Every past forecast (every model, every as-of month) joined to the actual once it is known.
-- The actual is the cleaned monthly demand of the current panel, so late-arriving lines restate it.
with

forecasts as (
    select * from {{ ref('fct_forecasts') }}
),

panel as (
    select
        product_id,
        month,
        demand,
        units_net,
        exclude_from_training
    from {{ ref('int_monthly_demand') }}
),

profiles as (
    select
        product_id,
        product_group,
        category,
        demand_class,
        lifecycle
    from {{ ref('int_series_profiles') }}
),

-- MASE denominator, the rule of demand_forecast.forecasting.metrics.mase_scale_at (the backtest's
-- MASE): the in-sample MAE of the seasonal naive forecast (lag 12) over the training months known at
-- each forecast's as-of month, when the product has more than 12 months of history there and that
-- MAE is positive; else the MAE of the naive forecast (lag 1); null when that is 0 or undefined.
-- Months excluded from training count as unknown. The panel has one row per month, so a lag of
-- k rows is k months.
training_demand as (
    select
        product_id,
        month,
        case when not exclude_from_training then demand end as demand
    from panel
),

seasonal_differences as (
    select
        product_id,
        month,
        abs(demand - lag(demand, 12) over by_product) as abs_difference_12,
        abs(demand - lag(demand, 1) over by_product) as abs_difference_1
    from training_demand
    window by_product as (partition by product_id order by month)
),

as_of_months as (
    select distinct as_of_month from forecasts
),

naive_errors as (
    select
        differences.product_id,
        as_of_months.as_of_month,
        count(*) as history_months,
        avg(differences.abs_difference_12) as seasonal_naive_mae,
        avg(differences.abs_difference_1) as naive_mae
    from seasonal_differences as differences
    inner join as_of_months
        on differences.month <= as_of_months.as_of_month
    group by all
),

mase_scales as (
    select
        product_id,
        as_of_month,
        case
            when history_months > 12 and seasonal_naive_mae > 0 then seasonal_naive_mae
            else nullif(naive_mae, 0)
        end as mase_scale
    from naive_errors
),

joined as (
    select
        -- keys
        forecasts.product_id,
        cast(forecasts.as_of_month as date) as as_of_month,
        cast(forecasts.forecast_month as date) as forecast_month,
        forecasts.horizon,
        forecasts.model_name,
        -- segments
        profiles.product_group,
        profiles.category,
        profiles.demand_class,
        profiles.lifecycle,
        forecasts.is_selected,
        -- forecast and actual
        forecasts.forecast_p10,
        forecasts.forecast_p50,
        forecasts.forecast_p90,
        panel.demand as actual,
        panel.units_net as actual_units_net,
        -- errors
        forecasts.forecast_p50 - panel.demand as error,
        abs(forecasts.forecast_p50 - panel.demand) as abs_error,
        mase_scales.mase_scale,
        abs(forecasts.forecast_p50 - panel.demand) / mase_scales.mase_scale as scaled_abs_error,
        panel.demand between forecasts.forecast_p10 and forecasts.forecast_p90 as is_within_p10_p90
    from forecasts
    inner join panel
        on
            forecasts.product_id = panel.product_id
            and forecasts.forecast_month = panel.month
    left join profiles
        on forecasts.product_id = profiles.product_id
    left join mase_scales
        on
            forecasts.product_id = mase_scales.product_id
            and forecasts.as_of_month = mase_scales.as_of_month
)

select * from joined
