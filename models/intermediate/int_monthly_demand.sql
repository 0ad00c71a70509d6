-- The monthly panel, input of every forecast: one row per product and month from the product's
-- first sale or launch month (not before the data's first month) to the as-of month, or to its
-- discontinuation month (or last sale, if later), zero-filled.
-- demand = net units with outliers capped, never below 0; in a stock-out month with
-- stockout_policy = impute it is raised to the in-stock daily rate x selling days (the rate of the
-- `imputation_trailing_months` months before when the product had no in-stock day); with
-- stockout_policy = exclude it stays observed and the month is flagged exclude_from_training.
{%- set policy = stockout_policy() %}
with

batch as (

    select * from {{ ref('int_batch_parameters') }}

),

products as (

    select * from {{ ref('int_products_as_of') }}

),

monthly_sales as (

    select * from {{ ref('int_monthly_sales') }}

),

stockout_months as (

    select * from {{ ref('int_stockout_months') }}

),

sales_bounds as (

    select
        monthly_sales.product_id,
        min(monthly_sales.month) as first_sale_month,
        max(monthly_sales.month) as last_sale_month
    from monthly_sales
    group by monthly_sales.product_id

),

product_bounds as (

    select
        products.product_id,
        products.product_group,
        products.category,
        products.launch_date,
        products.discontinued_date,
        products.list_price,
        greatest(
            least(sales_bounds.first_sale_month, cast(date_trunc('month', products.launch_date) as date)),
            batch.data_first_month
        ) as first_month,
        case
            when products.discontinued_date is null then batch.as_of_month
            else least(
                batch.as_of_month,
                greatest(cast(date_trunc('month', products.discontinued_date) as date), sales_bounds.last_sale_month)
            )
        end as last_month
    from products
    cross join batch
    left join sales_bounds
        on products.product_id = sales_bounds.product_id

),

-- zero-fill at month grain
spine as (

    select
        product_bounds.*,
        cast(unnest(generate_series(product_bounds.first_month, product_bounds.last_month, interval 1 month)) as date)
            as month
    from product_bounds
    where product_bounds.first_month <= product_bounds.last_month

),

joined as (

    select
        spine.product_id,
        spine.month,
        spine.product_group,
        spine.category,
        spine.list_price,
        coalesce(monthly_sales.units_sold, 0) as units_sold,
        coalesce(monthly_sales.units_returned, 0) as units_returned,
        coalesce(monthly_sales.units_net, 0) as units_net,
        coalesce(monthly_sales.units_outlier_capped, 0) as units_outlier_capped,
        coalesce(monthly_sales.units_capped_in_stock, 0) as units_capped_in_stock,
        coalesce(monthly_sales.revenue, 0) as revenue,
        coalesce(stockout_months.stockout_days, 0) as stockout_days,
        date_diff('day', spine.month, last_day(spine.month)) + 1 as days_in_month,
        {{ selling_days_in_month('spine.month', 'spine.launch_date', 'spine.discontinued_date') }} as selling_days,
        coalesce(stockout_months.is_stockout_month, false) as is_stockout_month,
        (spine.launch_date > spine.month and spine.launch_date <= last_day(spine.month))
        or (spine.discontinued_date >= spine.month and spine.discontinued_date < last_day(spine.month))
            as is_partial_month
    from spine
    left join monthly_sales
        on
            spine.product_id = monthly_sales.product_id
            and spine.month = monthly_sales.month
    left join stockout_months
        on
            spine.product_id = stockout_months.product_id
            and spine.month = stockout_months.month

),

rates as (

    select
        joined.*,
        greatest(joined.units_net - joined.units_outlier_capped, 0) as observed_demand,
        case
            when joined.selling_days - joined.stockout_days > 0
                then greatest(joined.units_capped_in_stock, 0) / (joined.selling_days - joined.stockout_days)
        end as in_stock_daily_rate,
        -- mean daily rate of the prior months that were not stock-out months
        avg(
            case
                when not joined.is_stockout_month and joined.selling_days > 0
                    then greatest(joined.units_net - joined.units_outlier_capped, 0) / joined.selling_days
            end
        ) over (
            partition by joined.product_id
            order by joined.month
            rows between {{ var('imputation_trailing_months') }} preceding and 1 preceding
        ) as trailing_daily_rate
    from joined

),

final as (

    select
        -- keys
        cast(rates.product_id as varchar) as product_id,
        cast(rates.month as date) as month,
        cast(rates.product_group as varchar) as product_group,
        cast(rates.category as varchar) as category,

        -- observed
        cast(rates.units_sold as bigint) as units_sold,
        cast(rates.units_returned as bigint) as units_returned,
        cast(rates.units_net as bigint) as units_net,
        cast(rates.units_outlier_capped as double) as units_outlier_capped,

        -- target
        {%- if policy == 'impute' %}
            cast(
                case
                    when
                        rates.is_stockout_month
                        and coalesce(rates.in_stock_daily_rate, rates.trailing_daily_rate) is not null
                        then greatest(
                            rates.observed_demand,
                            coalesce(rates.in_stock_daily_rate, rates.trailing_daily_rate) * rates.selling_days
                        )
                    else rates.observed_demand
                end as double
            ) as demand,
        {%- else %}
        cast(rates.observed_demand as double) as demand,
        {%- endif %}

        -- money
        cast(rates.revenue as double) as revenue,
        cast(
            case when rates.units_net > 0 then rates.revenue / rates.units_net else rates.list_price end as double
        ) as avg_unit_price,

        -- stock and calendar
        cast(rates.stockout_days as integer) as stockout_days,
        cast(rates.days_in_month as integer) as days_in_month,

        -- flags
        cast(rates.is_stockout_month as boolean) as is_stockout_month,
        cast(rates.units_outlier_capped > 0 as boolean) as is_outlier_adjusted,
        cast(
            {%- if policy == 'impute' %}
                rates.is_stockout_month and coalesce(rates.in_stock_daily_rate, rates.trailing_daily_rate) is not null
            {%- else %}
            false
            {%- endif %}
            as boolean
        ) as is_imputed,
        cast(coalesce(rates.is_partial_month, false) as boolean) as is_partial_month,
        cast({{ 'rates.is_stockout_month' if policy == 'exclude' else 'false' }} as boolean) as exclude_from_training

    from rates

)

select * from final
