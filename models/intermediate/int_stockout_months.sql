-- One row per product and month with accepted stock snapshots known at the as-of
-- (int_stock_snapshots_validated): how many days the product was out of stock (end-of-day on-hand
-- 0) while it could sell, and whether that share of its selling days is above
-- `stockout_month_threshold`. Days without an accepted snapshot (none, or a quarantined one such as
-- a negative on-hand), and products without any, count as in stock.
with

snapshots as (

    select * from {{ ref('int_stock_snapshots_validated') }}
    where reject_reason is null

),

products as (

    select * from {{ ref('int_products_as_of') }}

),

monthly as (

    select
        snapshots.product_id,
        cast(date_trunc('month', snapshots.snapshot_date) as date) as month,
        -- distinct days as a 32-bit mask of the days of the month (a repeated snapshot counts once;
        -- far cheaper than count(distinct) on tens of millions of rows)
        bit_count(bit_or(cast(1 as bigint) << day(snapshots.snapshot_date))) as snapshot_days,
        coalesce(
            bit_count(
                bit_or(cast(1 as bigint) << day(snapshots.snapshot_date)) filter (where snapshots.is_out_of_stock)
            ),
            0
        ) as stockout_days
    from snapshots
    inner join products
        on snapshots.product_id = products.product_id
    where
        snapshots.snapshot_date >= coalesce(products.launch_date, snapshots.snapshot_date)
        and snapshots.snapshot_date <= coalesce(products.discontinued_date, snapshots.snapshot_date)
    group by snapshots.product_id, cast(date_trunc('month', snapshots.snapshot_date) as date)

),

with_selling_days as (

    select
        monthly.*,
        {{ selling_days_in_month('monthly.month', 'products.launch_date', 'products.discontinued_date') }}
            as selling_days
    from monthly
    inner join products
        on monthly.product_id = products.product_id

),

final as (

    select
        with_selling_days.product_id,
        with_selling_days.month,
        cast(with_selling_days.snapshot_days as integer) as snapshot_days,
        cast(with_selling_days.stockout_days as integer) as stockout_days,
        cast(with_selling_days.selling_days as integer) as selling_days,
        cast(
            with_selling_days.stockout_days / nullif(with_selling_days.selling_days, 0) as double
        ) as stockout_share,
        coalesce(
            with_selling_days.stockout_days / nullif(with_selling_days.selling_days, 0)
            > {{ var('stockout_month_threshold') }},
            false
        ) as is_stockout_month
    from with_selling_days

)

select * from final
