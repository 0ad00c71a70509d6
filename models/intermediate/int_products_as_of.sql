-- One row per product: the master data in force, as it was known at the as-of month.
-- Master data is sent whole, so the latest row per product wins; a discontinuation dated after
-- the as-of month end was not yet known then and is blanked, so a replay sees an active product.
with

products as (

    select * from {{ ref('stg_raw__products') }}

),

batch as (

    select * from {{ ref('int_batch_parameters') }}

),

latest as (

    select products.*
    from products
    where products.product_id is not null
    qualify row_number() over (
        partition by products.product_id
        order by products.loaded_at desc nulls last, products.launch_date asc, products.product_name asc
    ) = 1

),

final as (

    select
        latest.product_id,
        latest.product_name,
        latest.product_group,
        latest.category,
        latest.launch_date,
        case
            when latest.discontinued_date <= batch.as_of_month_end then latest.discontinued_date
        end as discontinued_date,
        latest.list_price,
        latest.sales_grain,
        latest.loaded_at
    from latest
    cross join batch

)

select * from final
