-- One row per product of the panel: history length, demand pattern and lifecycle at the as-of.
-- demand_class follows Syntetos-Boylan on the training months (exclude_from_training is false):
--     ADI = training months / months with demand > 0, CV2 = (stddev / mean)^2 of non-zero demand
--     smooth: ADI < adi_cutoff and CV2 < cv2_cutoff   erratic: ADI < adi_cutoff and CV2 >= cv2_cutoff
--     intermittent: ADI >= adi_cutoff and CV2 < cv2_cutoff   lumpy: ADI >= adi_cutoff and CV2 >= cv2_cutoff
-- The cut-offs (1.32 and 0.49 by default) are vars, which the forecasting package receives too
-- (demand_forecast.forecasting.features.demand_class_at classifies at every backtest origin).
-- A product with fewer than `min_history_months` panel months is `new`; one without any
-- non-zero demand (ADI and CV2 undefined) is `intermittent`.
with

panel as (

    select * from {{ ref('int_monthly_demand') }}

),

products as (

    select * from {{ ref('int_products_as_of') }}

),

batch as (

    select * from {{ ref('int_batch_parameters') }}

),

ranked as (

    select
        panel.*,
        row_number() over (partition by panel.product_id order by panel.month desc) as months_back
    from panel

),

stats as (

    select
        ranked.product_id,
        min(ranked.month) as first_month,
        max(ranked.month) as last_month,
        count(*) as history_months,
        count(*) filter (where not ranked.exclude_from_training) as training_months,
        count(*) filter (where not ranked.exclude_from_training and ranked.demand > 0) as demand_months,
        count(*) filter (where ranked.demand = 0) / count(*) as zero_month_share,
        avg(ranked.demand) filter (where not ranked.exclude_from_training and ranked.demand > 0)
            as mean_nonzero_demand,
        stddev_pop(ranked.demand) filter (where not ranked.exclude_from_training and ranked.demand > 0)
            as stddev_nonzero_demand,
        avg(ranked.demand) filter (where ranked.months_back <= 12) as mean_demand_12m,
        max(ranked.demand) as max_monthly_demand
    from ranked
    group by ranked.product_id

),

measures as (

    select
        stats.*,
        stats.training_months / nullif(stats.demand_months, 0) as adi,
        power(stats.stddev_nonzero_demand / nullif(stats.mean_nonzero_demand, 0), 2) as cv2
    from stats

),

final as (

    select
        -- keys and attributes
        cast(measures.product_id as varchar) as product_id,
        cast(products.product_group as varchar) as product_group,
        cast(products.category as varchar) as category,
        cast(products.launch_date as date) as launch_date,
        cast(products.discontinued_date as date) as discontinued_date,

        -- history
        cast(measures.first_month as date) as first_month,
        cast(measures.last_month as date) as last_month,
        cast(measures.history_months as integer) as history_months,
        cast(measures.zero_month_share as double) as zero_month_share,

        -- pattern
        cast(measures.adi as double) as adi,
        cast(measures.cv2 as double) as cv2,
        cast(
            case
                when measures.history_months < {{ var('min_history_months') }} then 'new'
                when
                    coalesce(measures.adi, cast('infinity' as double)) < {{ var('adi_cutoff') }}
                    and coalesce(measures.cv2, 0) < {{ var('cv2_cutoff') }}
                    then 'smooth'
                when coalesce(measures.adi, cast('infinity' as double)) < {{ var('adi_cutoff') }} then 'erratic'
                when coalesce(measures.cv2, 0) < {{ var('cv2_cutoff') }} then 'intermittent'
                else 'lumpy'
            end as varchar
        ) as demand_class,
        cast(
            case
                when products.discontinued_date <= batch.as_of_month_end then 'discontinued'
                when measures.history_months < {{ var('min_history_months') }} then 'new'
                else 'active'
            end as varchar
        ) as lifecycle,

        -- level
        cast(measures.mean_demand_12m as double) as mean_demand_12m,
        cast(measures.max_monthly_demand as double) as max_monthly_demand

    from measures
    cross join batch
    inner join products
        on measures.product_id = products.product_id

)

select * from final
