-- Best and worst performing products and product groups over the last evaluated months
-- (var performer_window_months, default 3), horizon 1, selected forecasts only.
-- Products need some volume (actual > 0 in the window) to be ranked; WAPE ranks them.
with

accuracy as (
    select * from {{ ref('fct_forecast_accuracy') }}
    where is_selected and horizon = 1
),

window_bounds as (
    select
        max(forecast_month) as last_month,
        max(forecast_month) - to_months({{ var('performer_window_months', 3) }} - 1) as first_month
    from accuracy
),

in_window as (
    select accuracy.*
    from accuracy
    cross join window_bounds
    where accuracy.forecast_month between window_bounds.first_month and window_bounds.last_month
),

by_entity as (
    select
        'product' as entity_type,
        product_id as entity_id,
        any_value(product_group) as product_group,
        sum(actual) as total_actual,
        sum(abs_error) as total_abs_error,
        sum(abs_error) / nullif(sum(abs(actual)), 0) as wape,
        sum(error) / nullif(sum(actual), 0) as bias
    from in_window
    group by product_id
    having sum(actual) > 0
    union all
    select
        'product_group' as entity_type,
        product_group as entity_id,
        product_group,
        sum(actual) as total_actual,
        sum(abs_error) as total_abs_error,
        sum(abs_error) / nullif(sum(abs(actual)), 0) as wape,
        sum(error) / nullif(sum(actual), 0) as bias
    from in_window
    group by product_group
    having sum(actual) > 0
),

ranked as (
    select
        *,
        row_number() over (partition by entity_type order by wape asc, entity_id asc) as rank_best,
        row_number() over (partition by entity_type order by wape desc, entity_id asc) as rank_worst,
        -- at most 10 each way, and never more than half the entities, so best and worst never overlap
        least(10, greatest(1, count(*) over (partition by entity_type) // 2)) as list_length
    from by_entity
),

final as (
    select
        ranked.entity_type,
        ranked.entity_id,
        ranked.product_group,
        case when ranked.rank_best <= ranked.list_length then 'best' else 'worst' end as performance,
        case when ranked.rank_best <= ranked.list_length then ranked.rank_best else ranked.rank_worst end
            as performance_rank,
        ranked.total_actual,
        ranked.total_abs_error,
        ranked.wape,
        ranked.bias,
        cast(window_bounds.first_month as date) as window_start_month,
        cast(window_bounds.last_month as date) as window_end_month
    from ranked
    cross join window_bounds
    where ranked.rank_best <= ranked.list_length or ranked.rank_worst <= ranked.list_length
)

select * from final
