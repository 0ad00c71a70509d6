-- Accuracy of the selected forecast by evaluated month, horizon and segment: one row per
-- (forecast_month, horizon, segment_type, segment_value). WAPE and bias are volume-weighted,
-- MASE is the mean scaled absolute error, coverage the share of actuals inside P10-P90.
with

accuracy as (
    select * from {{ ref('fct_forecast_accuracy') }}
    where is_selected
),

by_segment as (
    {%- set segments = ['product_group', 'category', 'demand_class', 'lifecycle'] %}
    select
        forecast_month,
        horizon,
        'all' as segment_type,
        'all' as segment_value,
        * exclude (forecast_month, horizon)
    from accuracy
    {%- for segment in segments %}
        union all
        select
            forecast_month,
            horizon,
            '{{ segment }}' as segment_type,
            coalesce({{ segment }}, 'unknown') as segment_value,
            * exclude (forecast_month, horizon)
        from accuracy
    {%- endfor %}
),

summarised as (
    select
        forecast_month,
        horizon,
        segment_type,
        segment_value,
        count(*) as n_forecasts,
        count(distinct product_id) as n_products,
        sum(actual) as total_actual,
        sum(forecast_p50) as total_forecast,
        sum(abs_error) / nullif(sum(abs(actual)), 0) as wape,
        sum(error) / nullif(sum(actual), 0) as bias,
        avg(scaled_abs_error) as mase,
        avg(case when is_within_p10_p90 then 1.0 else 0.0 end) as coverage_p10_p90
    from by_segment
    group by all
)

select * from summarised
