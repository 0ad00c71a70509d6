-- Sales lines of the batch by fate, for the data-quality report: accepted, quarantined per reason
-- (every reason listed, zero when none), and not_yet_in_scope (raw lines loaded after the load
-- cut-off or sold after the as-of month). Raw lines = accepted + quarantined + not_yet_in_scope.
{%- set reasons = sales_line_reject_reasons() %}
with

validated as (

    select * from {{ ref('int_sales_lines_validated') }}

),

batch as (

    select * from {{ ref('int_batch_parameters') }}

),

-- the only read of raw lines beyond the as-of: a count
raw_lines as (

    select count(*) as raw_line_count
    from {{ ref('stg_raw__sales_lines') }}

),

buckets as (

    select
        bucket_order,
        bucket,
        line_status
    from (
        values
        (0, 'accepted', 'accepted'),
        {%- for reason in reasons %}
            ({{ loop.index }}, '{{ reason }}', 'quarantined'),
        {%- endfor %}
        ({{ reasons | length + 1 }}, 'not_yet_in_scope', 'not_yet_in_scope')
    ) as bucket_values (bucket_order, bucket, line_status)

),

counted as (

    select
        coalesce(validated.reject_reason, 'accepted') as bucket,
        count(*) as line_count,
        sum(abs(cast(validated.quantity as double))) as units
    from validated
    group by coalesce(validated.reject_reason, 'accepted')

),

scope_total as (

    select count(*) as in_scope_line_count
    from validated

),

final as (

    select
        batch.as_of_month,
        buckets.bucket,
        buckets.line_status,
        case when buckets.line_status = 'quarantined' then buckets.bucket end as reject_reason,
        cast(buckets.bucket_order as integer) as bucket_order,
        cast(
            case
                when buckets.bucket = 'not_yet_in_scope'
                    then raw_lines.raw_line_count - scope_total.in_scope_line_count
                else coalesce(counted.line_count, 0)
            end as bigint
        ) as line_count,
        cast(case when buckets.bucket != 'not_yet_in_scope' then coalesce(counted.units, 0) end as double)
            as units,
        cast(
            case
                when buckets.bucket != 'not_yet_in_scope'
                    then coalesce(counted.line_count, 0) / nullif(scope_total.in_scope_line_count, 0)
            end as double
        ) as share_of_in_scope_lines,
        cast(raw_lines.raw_line_count as bigint) as raw_line_count,
        cast(scope_total.in_scope_line_count as bigint) as in_scope_line_count
    from buckets
    cross join batch
    cross join raw_lines
    cross join scope_total
    left join counted
        on buckets.bucket = counted.bucket

)

select * from final
