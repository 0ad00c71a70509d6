-- One row per product: the ordering rule in force (the latest loaded row of raw ordering_rules) with
-- the defaults of the purchasing vars filled in where a product has no row or leaves a value empty.
-- A rule that is present but unusable (pack size not a whole number >= 1, negative minimum order) is
-- kept as sent and flagged: the suggestion for that product then asks for the rule to be fixed.
with

rules as (

    select * from {{ ref('stg_raw__ordering_rules') }}

),

products as (

    select * from {{ ref('int_products_as_of') }}

),

latest as (

    select rules.*
    from rules
    where rules.product_id is not null
    qualify row_number() over (
        partition by rules.product_id
        order by rules.loaded_at desc nulls last, rules.pack_size desc nulls last
    ) = 1

),

final as (

    select
        products.product_id,
        -- rule (sent value, else the default)
        coalesce(latest.pack_size, {{ var('purchasing_default_pack_size') }}) as pack_size,
        coalesce(latest.min_order_qty, {{ var('purchasing_default_min_order_qty') }}) as min_order_qty,
        coalesce(latest.unit_cost, products.list_price) as unit_cost,
        coalesce(latest.holding_cost_rate, {{ var('purchasing_default_holding_cost_rate') }}) as holding_cost_rate,
        -- where each value came from
        case when latest.product_id is null then 'default' else 'ordering_rules' end as rule_source,
        case when latest.unit_cost is null then 'list_price' else 'ordering_rules' end as unit_cost_source,
        -- a sent value that cannot be used
        case
            when latest.pack_size_raw is not null and (latest.pack_size is null or latest.pack_size < 1)
                then 'pack_size ''' || latest.pack_size_raw || ''' is not a whole number >= 1'
            when latest.min_order_qty_raw is not null and (latest.min_order_qty is null or latest.min_order_qty < 0)
                then 'min_order_qty ''' || latest.min_order_qty_raw || ''' is not a whole number >= 0'
            when latest.unit_cost_raw is not null and (latest.unit_cost is null or latest.unit_cost < 0)
                then 'unit_cost ''' || latest.unit_cost_raw || ''' is not a number >= 0'
        end as rule_problem
    from products
    left join latest
        on products.product_id = latest.product_id

)

select * from final
