-- How did last month's forecasts do, per product group and horizon? (selected forecasts only)
select
    segment_value as product_group,
    horizon,
    n_products,
    round(total_actual) as actual_units,
    round(total_forecast) as forecast_units,
    round(wape, 3) as wape,
    round(bias, 3) as bias,
    round(coverage_p10_p90, 2) as coverage_p10_p90
from {{ ref('mart_accuracy_by_segment') }}
where
    segment_type = 'product_group'
    and forecast_month = (select max(segments.forecast_month) from {{ ref('mart_accuracy_by_segment') }} as segments)
order by horizon asc, wape desc
