-- One row per product and day with accepted sales lines: gross, returned and net units, and the
-- outlier cap. A day's net units are compared with the product's robust level over its previous
-- `outlier_window_days` days with sales (the day itself left out, so a spike cannot raise its own
-- bar):
--     outlier_threshold = median + outlier_mad_threshold * max(1.4826 * MAD, 1 unit)
-- The window counts days with sales rather than calendar days: for a daily seller it spans about
-- the same stretch, a slow mover still gets enough observations to have a level at all, and a
-- window of rows is more than twice as fast as one of dates on DuckDB.
-- The MAD is the median, over the window, of each day's distance to its own trailing median (an
-- exact rolling MAD is no window function; this is the usual streaming approximation). It is
-- computed only for the days that pass the cheaper tests below, so rolling_mad and
-- outlier_threshold are null on every other day.
-- A day is an outlier when it has at least `outlier_min_units` net units, its window at least
-- `outlier_min_observations` days, and it is above the threshold and above
-- `outlier_window_max_multiple` times the largest day of its window: heavy-tailed (erratic)
-- products repeat days far above their median, and a day within the range the product has
-- recently shown is not an anomaly. An outlier is capped at the threshold; the original stays
-- beside the capped value.
with

validated as (

    select * from {{ ref('int_sales_lines_validated') }}

),

batch as (

    select * from {{ ref('int_batch_parameters') }}

),

snapshots as (

    select * from {{ ref('stg_raw__stock_snapshots') }}

),

daily as (

    select
        validated.product_id,
        validated.sale_date,
        sum(greatest(validated.quantity, 0)) as units_sold,
        sum(greatest(-validated.quantity, 0)) as units_returned,
        sum(validated.quantity) as units_net,
        sum(validated.quantity * validated.unit_price) as revenue,
        count(*) as line_count,
    from validated
    where validated.reject_reason is null
    group by validated.product_id, validated.sale_date

),

-- One window pass, carrying only the columns it needs (a window sorts whatever it carries).
trailing_stats as (

    select
        daily.product_id,
        daily.sale_date,
        daily.units_net,
        row_number() over trailing_window as day_index,
        median(daily.units_net) over trailing_window as rolling_median,
        max(daily.units_net) over trailing_window as window_max_units,
        count(*) over trailing_window as window_sale_days,
    from daily
    window trailing_window as (
        partition by daily.product_id
        order by daily.sale_date
        rows between {{ var('outlier_window_days') }} preceding and 1 preceding
    )

),

-- Days that pass the cheap tests; only these can be outliers, so only these need a MAD. Joining
-- them to their window is far cheaper than a second window pass over every day.
candidates as (

    select trailing_stats.*,
    from trailing_stats
    where
        trailing_stats.units_net >= {{ var('outlier_min_units') }}
        and trailing_stats.window_sale_days >= {{ var('outlier_min_observations') }}
        and trailing_stats.units_net > {{ var('outlier_window_max_multiple') }} * trailing_stats.window_max_units

),

candidate_mad as (

    select
        candidates.product_id,
        candidates.sale_date,
        median(abs(window_days.units_net - window_days.rolling_median)) as rolling_mad,
    from candidates
    inner join trailing_stats as window_days
        on
            candidates.product_id = window_days.product_id
            and window_days.day_index
            between candidates.day_index - {{ var('outlier_window_days') }} and candidates.day_index - 1
    group by candidates.product_id, candidates.sale_date

),

with_threshold as (

    select
        trailing_stats.product_id,
        trailing_stats.sale_date,
        trailing_stats.rolling_median,
        trailing_stats.window_max_units,
        trailing_stats.window_sale_days,
        candidate_mad.rolling_mad,
        -- only for candidates (greatest() would skip a null MAD and give every day a threshold)
        case
            when candidate_mad.product_id is not null
                then trailing_stats.rolling_median
                + {{ var('outlier_mad_threshold') }} * greatest(1.4826 * candidate_mad.rolling_mad, 1.0)
        end as outlier_threshold,
    from trailing_stats
    left join candidate_mad
        on
            trailing_stats.product_id = candidate_mad.product_id
            and trailing_stats.sale_date = candidate_mad.sale_date

),

flagged as (

    select
        daily.*,
        with_threshold.rolling_median,
        with_threshold.rolling_mad,
        with_threshold.window_max_units,
        with_threshold.window_sale_days,
        with_threshold.outlier_threshold,
        -- the threshold exists only for candidates, which passed the other tests
        coalesce(daily.units_net > with_threshold.outlier_threshold, false) as is_outlier,
    from daily
    inner join with_threshold
        on
            daily.product_id = with_threshold.product_id
            and daily.sale_date = with_threshold.sale_date

),

-- days a product was out of stock at the end of the day (known at the as-of)
stockout_days as (

    select distinct
        snapshots.product_id,
        snapshots.snapshot_date,
    from snapshots
    cross join batch
    where
        snapshots.on_hand_qty <= 0
        and snapshots.snapshot_date <= batch.as_of_month_end
        and coalesce(snapshots.loaded_at, cast(snapshots.snapshot_date as timestamp)) <= batch.load_cutoff_ts

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
        flagged.is_outlier,
        cast(
            case when flagged.is_outlier then flagged.outlier_threshold else flagged.units_net end as double
        ) as units_capped,

        -- stock
        stockout_days.product_id is not null as is_stockout_day,

    from flagged
    left join stockout_days
        on
            flagged.product_id = stockout_days.product_id
            and flagged.sale_date = stockout_days.snapshot_date

)

select * from final
