-- One row per product: master data with the demand profile the forecasts were chosen by.
with

products as (
    select * from {{ ref('stg_raw__products') }}
),

profiles as (
    select * from {{ ref('int_series_profiles') }}
),

final as (
    select
        -- keys
        products.product_id,
        -- attributes
        products.product_name,
        products.product_group,
        products.category,
        products.list_price,
        products.launch_date,
        products.discontinued_date,
        -- demand profile
        profiles.first_month,
        profiles.last_month,
        coalesce(profiles.history_months, 0) as history_months,
        profiles.zero_month_share,
        profiles.adi,
        profiles.cv2,
        coalesce(profiles.demand_class, 'no_history') as demand_class,
        coalesce(profiles.lifecycle, 'no_history') as lifecycle,
        profiles.mean_demand_12m,
        profiles.max_monthly_demand
    from products
    left join profiles
        on products.product_id = profiles.product_id
)

select * from final
