-- One row per product: units on hand at the end of the as-of month, from the latest accepted stock
-- snapshot dated in that month and loaded by the cut-off. A quarantined snapshot (a negative on-hand
-- is a booking error, not an empty shelf) tells nothing about the stock, so it is never read as 0.
-- Null when the product has no accepted snapshot in the month (no stock data, a feed that stopped,
-- or every snapshot quarantined): the suggestion then says that on hand is unknown.
with

snapshots as (

    select * from {{ ref('int_stock_snapshots_validated') }}

),

batch as (

    select * from {{ ref('int_batch_parameters') }}

),

products as (

    select * from {{ ref('int_products_as_of') }}

),

latest as (

    select
        snapshots.product_id,
        snapshots.snapshot_date,
        snapshots.on_hand_qty
    from snapshots
    cross join batch
    where
        -- int_stock_snapshots_validated already keeps only snapshots taken by the as-of month end
        -- and loaded by the cut-off
        snapshots.reject_reason is null
        and snapshots.snapshot_date >= batch.as_of_month
    qualify row_number() over (
        partition by snapshots.product_id
        order by snapshots.snapshot_date desc, snapshots.loaded_at desc nulls last, snapshots.on_hand_qty asc
    ) = 1

),

final as (

    select
        products.product_id,
        batch.as_of_month,
        latest.snapshot_date as on_hand_date,
        latest.on_hand_qty,
        date_diff('day', latest.snapshot_date, batch.as_of_month_end) as on_hand_age_days
    from products
    cross join batch
    left join latest
        on products.product_id = latest.product_id

)

select * from final
