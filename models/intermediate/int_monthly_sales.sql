-- One row per product and month with accepted sales: the daily figures summed to the month.
-- Returns are netted against sales of the same product-month (units_net = units_sold -
-- units_returned); units on out-of-stock days are kept apart for the in-stock daily rate.
with

daily as (

    select * from {{ ref('int_daily_sales_cleaned') }}

),

monthly as (

    select
        daily.product_id,
        daily.sale_month as month,
        cast(sum(daily.units_sold) as bigint) as units_sold,
        cast(sum(daily.units_returned) as bigint) as units_returned,
        cast(sum(daily.units_net) as bigint) as units_net,
        cast(sum(daily.revenue) as double) as revenue,
        cast(sum(daily.units_net - daily.units_capped) as double) as units_outlier_capped,
        cast(sum(daily.units_capped) as double) as units_capped,
        cast(coalesce(sum(daily.units_capped) filter (where not daily.is_stockout_day), 0) as double)
            as units_capped_in_stock,
        cast(count(*) as integer) as sale_days,
        cast(count(*) filter (where daily.is_outlier) as integer) as outlier_days
    from daily
    group by daily.product_id, daily.sale_month

)

select * from monthly
