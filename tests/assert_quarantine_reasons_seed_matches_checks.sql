-- The seed describing quarantine reasons lists exactly the reasons the SQL checks, in the same order.
{%- set reasons = sales_line_reject_reasons() %}
with checked as (
    select * from (
        values
        {%- for reason in reasons %}
            ('{{ reason }}', {{ loop.index }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as checked_reasons (reject_reason, check_order)
),

seeded as (
    select
        reject_reason,
        check_order
    from {{ ref('quarantine_reasons') }}
)

select
    coalesce(checked.reject_reason, seeded.reject_reason) as reject_reason,
    checked.check_order as checked_order,
    seeded.check_order as seeded_order
from checked
full outer join seeded
    on checked.reject_reason = seeded.reject_reason
where checked.check_order is distinct from seeded.check_order
