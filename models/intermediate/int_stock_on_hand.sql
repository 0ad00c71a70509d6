-- One row per product: units on hand at the end of the as-of month, from the latest stock snapshot
-- dated in that month and loaded by the cut-off. Null when the product has no such snapshot (no stock
-- data at all, or a feed that stopped): the suggestion then says that on hand is unknown.
with

snapshots as (

    select * from {{ ref('stg_raw__stock_snapshots') }}

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
        snapshots.product_id is not null
        and snapshots.on_hand_qty is not null
        and snapshots.snapshot_date between batch.as_of_month and batch.as_of_month_end
        -- a snapshot without a load time counts as loaded on its day
        and coalesce(snapshots.loaded_at, cast(snapshots.snapshot_date as timestamp)) <= batch.load_cutoff_ts
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
        -- a negative snapshot (back orders in some systems) is no stock to sell from; null stays null
        -- (greatest() would turn an unknown stock into 0)
        case when latest.on_hand_qty < 0 then 0 else latest.on_hand_qty end as on_hand_qty,
        date_diff('day', latest.snapshot_date, batch.as_of_month_end) as on_hand_age_days
    from products
    cross join batch
    left join latest
        on products.product_id = latest.product_id

)

select * from final
