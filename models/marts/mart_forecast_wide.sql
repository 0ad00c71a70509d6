-- The BI table: one row per product with everything a purchaser needs and no joins to make:
-- attributes, the selected forecast for the next three months (P10/P50/P90), the model behind it,
-- recent accuracy and recent actuals. Built from the latest as-of month in fct_forecasts.
with

latest_as_of as (
    select max(as_of_month) as as_of_month from {{ ref('fct_forecasts') }}
),

selected as (
    select forecasts.*
    from {{ ref('fct_forecasts') }} as forecasts
    inner join latest_as_of
        on forecasts.as_of_month = latest_as_of.as_of_month
    where forecasts.is_selected
),

pivoted as (
    select
        product_id,
        cast(any_value(as_of_month) as date) as as_of_month,
        any_value(model_name) as selected_model,
        any_value(selection_reason) as selection_reason,
        any_value(run_id) as run_id,
        {%- for h in range(1, var('horizon') + 1) %}
            -- units rounded to 0.1 for people; fct_forecasts keeps full precision
            cast(max(forecast_month) filter (where horizon = {{ h }}) as date) as month_{{ h }},
            round(max(forecast_p10) filter (where horizon = {{ h }}), 1) as month_{{ h }}_p10,
            round(max(forecast_p50) filter (where horizon = {{ h }}), 1) as month_{{ h }}_p50,
            round(max(forecast_p90) filter (where horizon = {{ h }}), 1)
                as month_{{ h }}_p90{% if not loop.last %},{% endif %}
        {%- endfor %}
    from selected
    group by product_id
),

recent_accuracy as (
    -- horizon-1 accuracy of the selected forecast over the last 3 evaluated months
    select
        product_id,
        sum(abs_error) / nullif(sum(abs(actual)), 0) as wape_last_3m,
        sum(error) / nullif(sum(actual), 0) as bias_last_3m,
        count(*) as evaluated_months_last_3m
    from {{ ref('fct_forecast_accuracy') }}
    where
        is_selected
        and horizon = 1
        and forecast_month > (select latest_as_of.as_of_month from latest_as_of) - interval 3 month
    group by product_id
),

recent_actuals as (
    select
        product_id,
        sum(demand) filter (where month > (select latest_as_of.as_of_month from latest_as_of) - interval 12 month)
            as demand_last_12m,
        sum(demand) filter (where month = (select latest_as_of.as_of_month from latest_as_of)) as demand_last_month,
        sum(units_net) filter (where month = (select latest_as_of.as_of_month from latest_as_of))
            as units_net_last_month
    from {{ ref('int_monthly_demand') }}
    group by product_id
),

final as (
    select
        products.product_id,
        products.product_name,
        products.product_group,
        products.category,
        products.demand_class,
        products.lifecycle,
        products.history_months,
        -- the excluded column is not a reference: sqlfluff cannot tell
        pivoted.* exclude (product_id),  -- noqa: RF02
        recent_accuracy.wape_last_3m,
        recent_accuracy.bias_last_3m,
        coalesce(recent_accuracy.evaluated_months_last_3m, 0) as evaluated_months_last_3m,
        round(recent_actuals.demand_last_month, 1) as demand_last_month,
        cast(recent_actuals.units_net_last_month as bigint) as units_net_last_month,
        round(recent_actuals.demand_last_12m, 1) as demand_last_12m
    from pivoted
    inner join {{ ref('dim_products') }} as products
        on pivoted.product_id = products.product_id
    left join recent_accuracy
        on pivoted.product_id = recent_accuracy.product_id
    left join recent_actuals
        on pivoted.product_id = recent_actuals.product_id
)

select * from final
