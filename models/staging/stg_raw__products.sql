-- One row per raw product row (the master data may be sent in parts or repeated; intermediate
-- picks the row in force).
with

source_files as (

    select * from {{ source('raw', 'products') }}

),

-- sales_grain is optional in the raw contract: files without it read as grain 'day'
source as (

    select * from source_files
    union all by name
    select cast(null as varchar) as sales_grain
    where false

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
        try_cast(source.list_price as double) as list_price,

        -- how the product's sales lines arrive: day (a sale on its date) or month (a month's total)
        coalesce(nullif(lower(trim(cast(source.sales_grain as varchar))), ''), 'day') as sales_grain

    from source

)

select * from renamed
