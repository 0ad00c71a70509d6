-- One row per raw ordering rule row, as sent (int_ordering_rules picks the row in force and fills the
-- defaults). Casts never fail: a value that does not parse becomes null and its raw text stays beside it.
-- The source is optional, so this reads base_raw__ordering_rules (the files, or an empty table).
with

source as (

    select * from {{ ref('base_raw__ordering_rules') }}

),

renamed as (

    select
        -- ids
        nullif(trim(cast(source.product_id as varchar)), '') as product_id,

        -- numerics: pack size and minimum order in whole units ("2.5" stays null)
        {{ try_whole_number('source.pack_size') }} as pack_size,
        {{ try_whole_number('source.min_order_qty') }} as min_order_qty,
        try_cast(trim(cast(source.unit_cost as varchar)) as double) as unit_cost,
        try_cast(trim(cast(source.holding_cost_rate as varchar)) as double) as holding_cost_rate,

        -- dates
        try_cast(source.loaded_at as timestamp) as loaded_at,

        -- raw text as received
        cast(source.pack_size as varchar) as pack_size_raw,
        cast(source.min_order_qty as varchar) as min_order_qty_raw,
        cast(source.unit_cost as varchar) as unit_cost_raw

    from source

)

select * from renamed
