-- One row per raw product row (the master data may be sent in parts or repeated; intermediate
-- picks the row in force).
with

source as (

    select * from {{ source('raw', 'products') }}

),

renamed as (

    select
        -- ids
        nullif(trim(cast(source.product_id as varchar)), '') as product_id,

        -- descriptions
        nullif(trim(cast(source.product_name as varchar)), '') as product_name,
        nullif(trim(cast(source.product_group as varchar)), '') as product_group,
        nullif(trim(cast(source.category as varchar)), '') as category,

        -- dates
        try_cast(source.launch_date as date) as launch_date,
        try_cast(source.discontinued_date as date) as discontinued_date,
        try_cast(source.loaded_at as timestamp) as loaded_at,

        -- numerics
        try_cast(source.list_price as double) as list_price

    from source

)

select * from renamed
