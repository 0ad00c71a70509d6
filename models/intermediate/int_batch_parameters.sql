-- One row: the as-of month this batch is built for, and the load cut-off that follows from it.
-- Every intermediate model that reads sales lines or stock snapshots filters on this row, so a
-- replay of an earlier month sees only what the warehouse held then. This model owns the rule of
-- the last complete month: the batch reads it from here to plan its months. An as-of month after
-- the last complete month stops the build with an error saying what the data holds.
with

sales_lines as (

    select * from {{ ref('stg_raw__sales_lines') }}

),

-- a usable sale date: parsed, not before min_sale_date, not after the day the line was loaded
valid_sale_dates as (

    select
        sales_lines.sale_date,
        cast(sales_lines.loaded_at as date) as loaded_date
    from sales_lines
    where
        sales_lines.sale_date >= date '{{ var("min_sale_date") }}'
        and sales_lines.sale_date <= cast(sales_lines.loaded_at as date)

),

latest_month as (

    select cast(date_trunc('month', max(valid_sale_dates.sale_date)) as date) as month_start
    from valid_sale_dates

),

-- the latest month is complete when its last day has sales, or when lines of it were loaded after
-- it ended (monthly totals dated on the 1st; a shop closed on the last day)
latest_month_state as (

    select
        latest_month.month_start,
        max(valid_sale_dates.sale_date) = last_day(latest_month.month_start)
        or max(valid_sale_dates.loaded_date) > last_day(latest_month.month_start) as is_complete
    from latest_month
    inner join valid_sale_dates
        on latest_month.month_start <= valid_sale_dates.sale_date
    group by latest_month.month_start

),

data_bounds as (

    select
        min(valid_sale_dates.sale_date) as data_first_sale_date,
        max(valid_sale_dates.sale_date) as data_last_sale_date
    from valid_sale_dates

),

resolved_month as (

    select
        -- last complete month in the data
        case
            when max(latest_month_state.is_complete) then max(latest_month_state.month_start)
            else cast(max(latest_month_state.month_start) - interval 1 month as date)
        end as last_complete_month,
        coalesce({{ as_of_month_literal() }}, last_complete_month) as requested_month,
        {{ as_of_month_literal() }} is not null as is_as_of_month_from_var
    from latest_month_state

),

-- an as-of month after the data would zero-fill the months the data does not hold: refused
checked_month as (

    select
        resolved_month.last_complete_month,
        resolved_month.is_as_of_month_from_var,
        data_bounds.data_first_sale_date,
        data_bounds.data_last_sale_date,
        case
            when resolved_month.requested_month is null
                then error(
                    'no usable sale date in the raw sales lines (a parsed date, not before var min_sale_date, '
                    || 'not after the day its line was loaded): is the raw data there?'
                )
            when resolved_month.requested_month > resolved_month.last_complete_month
                then error(
                    'var as_of_month ' || strftime(resolved_month.requested_month, '%Y-%m')
                    || ' is after the last complete month of the data, '
                    || strftime(resolved_month.last_complete_month, '%Y-%m')
                    || ' (usable sales dated ' || strftime(data_bounds.data_first_sale_date, '%Y-%m-%d')
                    || ' to ' || strftime(data_bounds.data_last_sale_date, '%Y-%m-%d')
                    || '); a month is complete when its last day has sales or its lines were loaded after it ended'
                )
            else resolved_month.requested_month
        end as as_of_month
    from resolved_month
    cross join data_bounds

),

parameters as (

    select
        checked_month.as_of_month,
        cast(last_day(checked_month.as_of_month) as date) as as_of_month_end,
        -- end of the load_grace_days-th day after the month end
        cast(last_day(checked_month.as_of_month) as timestamp)
        + to_days({{ var('load_grace_days') }} + 1)
        - to_microseconds(1) as load_cutoff_ts,
        checked_month.is_as_of_month_from_var,
        checked_month.last_complete_month,
        checked_month.data_first_sale_date,
        checked_month.data_last_sale_date
    from checked_month

),

-- first month of usable sales known at the as-of: no panel starts before it
first_month as (

    select cast(date_trunc('month', min(sales_lines.sale_date)) as date) as data_first_month
    from sales_lines
    cross join parameters
    where
        sales_lines.sale_date >= date '{{ var("min_sale_date") }}'
        and sales_lines.sale_date <= cast(sales_lines.loaded_at as date)
        and {{ sales_line_in_scope('sales_lines', 'parameters') }}

),

final as (

    select
        parameters.as_of_month,
        parameters.as_of_month_end,
        parameters.load_cutoff_ts,
        first_month.data_first_month,
        parameters.is_as_of_month_from_var,
        parameters.last_complete_month,
        parameters.data_first_sale_date,
        parameters.data_last_sale_date
    from parameters
    cross join first_month

)

select * from final
