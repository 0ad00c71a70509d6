{#- Coherence of fct_forecasts_by_group (levels total > group > category > product). Each returns
    the offending rows, which `store_failures` keeps for the report. -#}



{% test hierarchy_is_coherent(model, tolerance=0.000001) %}
{#- Every aggregate row's P50 (total, group, category) equals the sum of its product rows' P50 of
    the same as-of month and horizon (relative tolerance), and counts the same products. -#}
with products as (
    select * from {{ model }} where level = 'product'
),
sums as (
    select
        aggregates.as_of_month,
        aggregates.level,
        aggregates.node_id,
        aggregates.horizon,
        any_value(aggregates.forecast_p50) as forecast_p50,
        any_value(aggregates.n_products) as n_products,
        coalesce(sum(products.forecast_p50), 0) as product_p50,
        count(products.node_id) as product_rows,
    from {{ model }} as aggregates
    left join products
        on aggregates.as_of_month = products.as_of_month
        and aggregates.horizon = products.horizon
        and (
            aggregates.level = 'total'
            or (aggregates.level = 'group' and aggregates.product_group = products.product_group)
            or (
                aggregates.level = 'category'
                and aggregates.product_group = products.product_group
                and aggregates.category = products.category
            )
        )
    where aggregates.level <> 'product'
    group by aggregates.as_of_month, aggregates.level, aggregates.node_id, aggregates.horizon
)
select *
from sums
where abs(forecast_p50 - product_p50) > {{ tolerance }} * greatest(1, abs(product_p50))
    or n_products <> product_rows
{% endtest %}


{% test hierarchy_matches_product_forecasts(model, product_forecasts, tolerance=0.000001) %}
{#- Where the reconciliation keeps the products' forecasts (bottom_up), the product rows are the
    selected forecasts of `product_forecasts` (fct_forecasts): same products, same P50. -#}
with reconciled as (
    select * from {{ model }}
    where level = 'product' and reconciliation_method = 'bottom_up'
),
selected as (
    select product_id, as_of_month, horizon, forecast_p50
    from {{ product_forecasts }}
    where is_selected
        and as_of_month in (select distinct reconciled.as_of_month from reconciled)
)
select
    coalesce(reconciled.product_id, selected.product_id) as product_id,
    coalesce(reconciled.as_of_month, selected.as_of_month) as as_of_month,
    coalesce(reconciled.horizon, selected.horizon) as horizon,
    reconciled.forecast_p50 as reconciled_p50,
    selected.forecast_p50 as selected_p50,
from reconciled
full outer join selected
    on reconciled.product_id = selected.product_id
    and reconciled.as_of_month = selected.as_of_month
    and reconciled.horizon = selected.horizon
where reconciled.product_id is null
    or selected.product_id is null
    or abs(reconciled.forecast_p50 - greatest(selected.forecast_p50, 0))
    > {{ tolerance }} * greatest(1, abs(selected.forecast_p50))
{% endtest %}
