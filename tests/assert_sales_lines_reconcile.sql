-- Nothing lost: every raw sales line in the scope of the batch is either accepted or quarantined,
-- exactly once. Returns a row (and fails) when the counts differ.
with

batch as (

    select * from {{ ref('int_batch_parameters') }}

),

raw_in_scope as (

    select count(*) as line_count
    from {{ ref('stg_raw__sales_lines') }} as sales_lines
    cross join batch
    where {{ sales_line_in_scope('sales_lines', 'batch') }}

),

accepted as (

    select count(*) as line_count
    from {{ ref('int_sales_lines_validated') }} as validated
    where validated.reject_reason is null

),

quarantined as (

    select count(*) as line_count
    from {{ ref('int_sales_lines_quarantined') }}

)

select
    raw_in_scope.line_count as raw_in_scope_lines,
    accepted.line_count as accepted_lines,
    quarantined.line_count as quarantined_lines
from raw_in_scope
cross join accepted
cross join quarantined
where raw_in_scope.line_count != accepted.line_count + quarantined.line_count
