-- One row per raw purchase order row, as sent. Casts never fail: a value that does not parse becomes
-- null and its raw text stays beside it, so the suggestion can say which row to fix. The source is
-- optional, so this reads base_raw__purchase_orders (the files, or an empty table without them).
with

source as (

    select * from {{ ref('base_raw__purchase_orders') }}

),

renamed as (

    select
        -- ids
        nullif(trim(cast(source.purchase_order_id as varchar)), '') as purchase_order_id,
        nullif(trim(cast(source.product_id as varchar)), '') as product_id,

        -- dates (the expected arrival month as a date on its first day; text YYYY-MM is accepted)
        try_cast(source.order_date as date) as order_date,
        cast(date_trunc(
            'month',
            coalesce(
                try_cast(source.expected_arrival_month as date),
                cast(try_strptime(trim(cast(source.expected_arrival_month as varchar)), '%Y-%m') as date)
            )
        ) as date) as expected_arrival_month,
        try_cast(source.received_date as date) as received_date,
        try_cast(source.loaded_at as timestamp) as loaded_at,

        -- numerics: whole units only ("12.5" stays null instead of rounding)
        {{ try_whole_number('source.quantity') }} as quantity,

        -- categories
        lower(nullif(trim(cast(source.status as varchar)), '')) as status,

        -- raw text as received
        cast(source.order_date as varchar) as order_date_raw,
        cast(source.expected_arrival_month as varchar) as expected_arrival_month_raw,
        cast(source.quantity as varchar) as quantity_raw,
        cast(source.status as varchar) as status_raw

    from source

)

select * from renamed
