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

-- Distinct days as 32-bit masks of the days of the month (a repeated snapshot counts once; far
-- cheaper than count(distinct) on tens of millions of rows), grouped before the join with the
-- product master, so the join reads one row per product-month instead of one per snapshot.
snapshot_masks as (

    select
        snapshots.product_id,
        cast(date_trunc('month', snapshots.snapshot_date) as date) as month,
        bit_or(cast(1 as bigint) << day(snapshots.snapshot_date)) as day_mask,
        bit_or(cast(1 as bigint) << day(snapshots.snapshot_date)) filter (where snapshots.is_out_of_stock)
            as stockout_mask
    from snapshots
    group by snapshots.product_id, cast(date_trunc('month', snapshots.snapshot_date) as date)

),

-- the days of the month the product could sell (launch to discontinuation, both included) as the
-- same kind of mask: only snapshots of those days count
selling_windows as (

    select
        snapshot_masks.product_id,
        snapshot_masks.month,
        snapshot_masks.day_mask,
        snapshot_masks.stockout_mask,
        greatest(snapshot_masks.month, coalesce(products.launch_date, snapshot_masks.month)) as first_selling_day,
        least(
            last_day(snapshot_masks.month), coalesce(products.discontinued_date, last_day(snapshot_masks.month))
        ) as last_selling_day,
        {{ selling_days_in_month('snapshot_masks.month', 'products.launch_date', 'products.discontinued_date') }}
            as selling_days
    from snapshot_masks
    inner join products
        on snapshot_masks.product_id = products.product_id

),

with_selling_days as (

    select
        masked.product_id,
        masked.month,
        bit_count(masked.day_mask & masked.selling_mask) as snapshot_days,
        coalesce(bit_count(masked.stockout_mask & masked.selling_mask), 0) as stockout_days,
        masked.selling_days
    from (
        select
            selling_windows.*,
            case
                when selling_windows.first_selling_day <= selling_windows.last_selling_day
                    -- bits first..last: 2^(last + 1) - 2^first
                    then
                        (cast(1 as bigint) << (day(selling_windows.last_selling_day) + 1))
                        - (cast(1 as bigint) << day(selling_windows.first_selling_day))
                else 0
            end as selling_mask
        from selling_windows
    ) as masked
    -- a month none of whose snapshots falls in the selling window has no row, as before the mask
    where masked.day_mask & masked.selling_mask != 0

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
