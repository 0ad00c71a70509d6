-- One row per product and day with accepted sales lines: gross, returned and net units, and the
-- outlier cap. A day is an outlier, flagged and capped, when
--   * it has at least `outlier_min_units` net units,
--   * its window (the product's previous `outlier_window_days` days with sales; the day itself left
--     out, so a spike cannot raise its own bar) holds at least `outlier_min_observations` days,
--   * it has more than `outlier_window_max_multiple` times the largest day of the window:
--     heavy-tailed (erratic) products repeat days far above their median, and a day within the
--     range the product has recently shown is not an anomaly,
--   * and it is above the robust level of the window,
--         outlier_threshold = median + outlier_mad_threshold * max(1.4826 * MAD, 1 unit),
--     with the median and the median absolute deviation of the window's days (exact, not a
--     streaming approximation).
-- It is capped at the threshold; the original stays beside the capped value.
-- The window counts days with sales rather than calendar days: for a daily seller it spans about
-- the same stretch, and a slow mover still gets enough observations to have a level at all.
-- A product whose lines are monthly totals (products.sales_grain = 'month', written by the importer
-- for monthly data) has one row per month here; its window is `outlier_window_months` months and it
-- needs `outlier_min_months` of them (a full seasonal cycle, so a first seasonal peak is not capped).
-- Speed: a rolling median over every day is the costly part at scale (tens of millions of days),
-- so one cheap window pass (position, max) finds the few candidate days that pass the first three
-- tests, and the median and MAD are computed for those alone, from their windows joined back.
-- rolling_median, rolling_mad and outlier_threshold are therefore null on every other day.
{%- set outlier_windows = {
    'day': {'rows': var('outlier_window_days'), 'min_rows': var('outlier_min_observations')},
    'month': {'rows': var('outlier_window_months'), 'min_rows': var('outlier_min_months')},
} %}
with

validated as (

    select * from {{ ref('int_sales_lines_validated') }}

),

snapshots as (

    select * from {{ ref('int_stock_snapshots_validated') }}

),

products as (

    select * from {{ ref('int_products_as_of') }}

),

daily as (

    select
        validated.product_id,
        validated.sale_date,
        sum(greatest(validated.quantity, 0)) as units_sold,
        sum(greatest(-validated.quantity, 0)) as units_returned,
        sum(validated.quantity) as units_net,
        sum(validated.quantity * validated.unit_price) as revenue,
        count(*) as line_count
    from validated
    where validated.reject_reason is null
    group by validated.product_id, validated.sale_date

),

-- the grain the product's lines arrive in: a row here is a day, or a month's total for an import
-- of monthly totals, and the window is counted in rows of that grain
daily_with_grain as (

    select
        daily.*,
        coalesce(products.sales_grain, 'day') as sales_grain
    from daily
    left join products
        on daily.product_id = products.product_id

),

-- one cheap window pass: position and largest day of each day's trailing window (its size follows
-- from the position: a row-framed window holds every earlier row up to its length)
trailing_windows as (
    {%- for grain, window in outlier_windows.items() %}

        select
            daily_with_grain.*,
            {{ window.rows }} as window_rows,
            {{ window.min_rows }} as window_min_rows,
            row_number() over trailing_window as day_index,
            max(daily_with_grain.units_net) over trailing_window as window_max_units
        from daily_with_grain
        where daily_with_grain.sales_grain = '{{ grain }}'
        window
            trailing_window as (
                partition by daily_with_grain.product_id
                order by daily_with_grain.sale_date
                rows between {{ window.rows }} preceding and 1 preceding
            )
        {%- if not loop.last %}

            union all
        {%- endif %}
    {%- endfor %}

),

-- a candidate passes the three cheap tests; only candidates get a median and MAD
trailing_stats as (

    select
        with_size.*,
        coalesce(
            with_size.units_net >= {{ var('outlier_min_units') }}
            and with_size.window_sale_days >= with_size.window_min_rows
            and with_size.units_net > {{ var('outlier_window_max_multiple') }} * with_size.window_max_units,
            false
        ) as is_candidate
    from (
        select
            trailing_windows.*,
            least(trailing_windows.day_index - 1, trailing_windows.window_rows) as window_sale_days
        from trailing_windows
    ) as with_size

),

candidates as (

    select
        trailing_stats.product_id,
        trailing_stats.sale_date,
        trailing_stats.day_index,
        trailing_stats.window_rows
    from trailing_stats
    where trailing_stats.is_candidate

),

-- the days of each candidate's window
candidate_windows as (

    select
        candidates.product_id,
        candidates.sale_date,
        window_days.units_net
    from candidates
    inner join trailing_stats as window_days
        on
            candidates.product_id = window_days.product_id
            and window_days.day_index
            between candidates.day_index - candidates.window_rows and candidates.day_index - 1

),

candidate_medians as (

    select
        candidate_windows.product_id,
        candidate_windows.sale_date,
        median(candidate_windows.units_net) as rolling_median
    from candidate_windows
    group by candidate_windows.product_id, candidate_windows.sale_date

),

candidate_levels as (

    select
        candidate_medians.product_id,
        candidate_medians.sale_date,
        candidate_medians.rolling_median,
        median(abs(candidate_windows.units_net - candidate_medians.rolling_median)) as rolling_mad
    from candidate_medians
    inner join candidate_windows
        on
            candidate_medians.product_id = candidate_windows.product_id
            and candidate_medians.sale_date = candidate_windows.sale_date
    group by candidate_medians.product_id, candidate_medians.sale_date, candidate_medians.rolling_median

),

-- every other day has no level: split by the candidate flag rather than joining every day with
-- the few candidates' levels (the join would hash all days to find a handful)
flagged as (

    select
        trailing_stats.*,
        cast(null as double) as rolling_median,
        cast(null as double) as rolling_mad,
        cast(null as double) as outlier_threshold
    from trailing_stats
    where not trailing_stats.is_candidate

    union all

    select
        trailing_stats.*,
        candidate_levels.rolling_median,
        candidate_levels.rolling_mad,
        candidate_levels.rolling_median
        + {{ var('outlier_mad_threshold') }} * greatest(1.4826 * candidate_levels.rolling_mad, 1.0)
            as outlier_threshold
    from trailing_stats
    left join candidate_levels
        on
            trailing_stats.product_id = candidate_levels.product_id
            and trailing_stats.sale_date = candidate_levels.sale_date
    where trailing_stats.is_candidate

),

-- days a product was out of stock at the end of the day (accepted snapshots known at the as-of)
stockout_days as (

    select distinct
        snapshots.product_id,
        snapshots.snapshot_date
    from snapshots
    where snapshots.reject_reason is null and snapshots.is_out_of_stock

),

final as (

    select
        -- keys
        flagged.product_id,
        flagged.sale_date,
        cast(date_trunc('month', flagged.sale_date) as date) as sale_month,

        -- units
        cast(flagged.units_sold as bigint) as units_sold,
        cast(flagged.units_returned as bigint) as units_returned,
        cast(flagged.units_net as bigint) as units_net,
        cast(flagged.revenue as double) as revenue,
        cast(flagged.line_count as bigint) as line_count,

        -- outlier cap
        cast(flagged.rolling_median as double) as rolling_median,
        cast(flagged.rolling_mad as double) as rolling_mad,
        cast(flagged.window_max_units as bigint) as window_max_units,
        cast(flagged.window_sale_days as integer) as window_sale_days,
        cast(flagged.outlier_threshold as double) as outlier_threshold,
        -- only candidates have a threshold: they passed the other tests
        coalesce(flagged.units_net > flagged.outlier_threshold, false) as is_outlier,
        cast(
            case
                when flagged.units_net > flagged.outlier_threshold then flagged.outlier_threshold
                else flagged.units_net
            end as double
        ) as units_capped,

        -- stock
        stockout_days.product_id is not null as is_stockout_day

    from flagged
    left join stockout_days
        on
            flagged.product_id = stockout_days.product_id
            and flagged.sale_date = stockout_days.snapshot_date

)

select * from final
