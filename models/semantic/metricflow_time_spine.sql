-- One row per day, the calendar MetricFlow joins metrics to (its time spine). Days cover every
-- month the forecasts and their accuracy can name; a metric by month rolls these days up.
with

days as (
    select cast(day_start as date) as date_day
    from range(date '2000-01-01', date '2051-01-01', interval 1 day) as calendar (day_start)
)

select * from days
