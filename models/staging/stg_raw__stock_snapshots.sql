-- One row per product and day: end-of-day units on hand (0 = out of stock).
with

source as (

    select * from {{ source('raw', 'stock_snapshots') }}

),

renamed as (

    select
        -- ids
        nullif(trim(cast(source.product_id as varchar)), '') as product_id,

        -- dates
        try_cast(source.snapshot_date as date) as snapshot_date,
        try_cast(source.loaded_at as timestamp) as loaded_at,

        -- numerics
        try_cast(source.on_hand_qty as bigint) as on_hand_qty

    from source

)

select * from renamed
