-- One row per raw sales line, as sent. Casts never fail: a value that does not parse becomes null
-- and its raw text is kept beside it, so quarantine can say why a line was rejected.
with

source as (

    select * from {{ source('raw', 'sales_lines') }}

),

renamed as (

    select
        -- ids
        nullif(trim(cast(source.line_id as varchar)), '') as line_id,
        nullif(trim(cast(source.product_id as varchar)), '') as product_id,

        -- dates (strict YYYY-MM-DD)
        cast(try_strptime(trim(cast(source.sale_date as varchar)), '%Y-%m-%d') as date) as sale_date,
        try_cast(source.loaded_at as timestamp) as loaded_at,

        -- numerics: an integer quantity only ("12.5" stays null instead of rounding to 13)
        case
            when regexp_full_match(trim(cast(source.quantity as varchar)), '[+-]?[0-9]{1,18}')
                then cast(trim(cast(source.quantity as varchar)) as bigint)
        end as quantity,
        try_cast(trim(cast(source.unit_price as varchar)) as double) as unit_price,

        -- raw text as received
        cast(source.sale_date as varchar) as sale_date_raw,
        cast(source.product_id as varchar) as product_id_raw,
        cast(source.quantity as varchar) as quantity_raw,
        cast(source.unit_price as varchar) as unit_price_raw,
        cast(source.loaded_at as varchar) as loaded_at_raw

    from source

)

select * from renamed
