-- Every raw stock snapshot known at the as-of (taken by the as-of month end, loaded by the load
-- cut-off; a snapshot without a load time counts as loaded on its day), with the reason it is
-- quarantined or null when accepted. Only accepted snapshots tell whether a day was out of stock.
--   null_product      no product id
--   bad_date          snapshot date missing or not a date
--   bad_quantity      on-hand quantity missing or not an integer
--   negative_on_hand  on-hand below 0: the stock system booked more out than it held (a timing or
--                     booking error), so the day's stock is unknown; it is not a stock-out
-- A view: its readers aggregate it at once, so tens of millions of snapshot rows are never stored twice.
{{ config(materialized='view') }}
with

snapshots as (

    select * from {{ ref('stg_raw__stock_snapshots') }}

),

batch as (

    select * from {{ ref('int_batch_parameters') }}

),

in_scope as (

    select snapshots.*
    from snapshots
    cross join batch
    where
        (snapshots.snapshot_date is null or snapshots.snapshot_date <= batch.as_of_month_end)
        and coalesce(snapshots.loaded_at, cast(snapshots.snapshot_date as timestamp)) <= batch.load_cutoff_ts

),

validated as (

    select
        in_scope.product_id,
        in_scope.snapshot_date,
        in_scope.on_hand_qty,
        in_scope.loaded_at,
        case
            when in_scope.product_id is null then 'null_product'
            when in_scope.snapshot_date is null then 'bad_date'
            when in_scope.on_hand_qty is null then 'bad_quantity'
            when in_scope.on_hand_qty < 0 then 'negative_on_hand'
        end as reject_reason,
        coalesce(in_scope.on_hand_qty = 0, false) as is_out_of_stock
    from in_scope

)

select * from validated
