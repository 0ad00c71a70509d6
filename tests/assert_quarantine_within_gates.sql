-- Quarantine gates: the build stops, with an error that gives the figures, when so much of the batch's
-- data is quarantined that the panel would turn real sales into zeros. Duplicates do not count (their
-- first copy is kept, nothing is lost). Three gates, each a var:
--   max_quarantined_share          share of the sales lines in scope quarantined
--   max_product_quarantined_share  share of one known product's lines quarantined, for products with
--                                  at least quarantine_gate_min_lines lines in scope (unknown products
--                                  are not in the panel at all and count in the first gate only)
--   max_quarantined_share          also for the stock snapshots in scope
-- The defaults and the measurements behind them are in docs/operations.md.
with

validated as (

    select * from {{ ref('int_sales_lines_validated') }}

),

products as (

    select * from {{ ref('int_products_as_of') }}

),

snapshots as (

    select * from {{ ref('int_stock_snapshots_validated') }}

),

lost_lines as (

    select
        validated.*,
        validated.reject_reason is not null and validated.reject_reason != 'duplicate' as is_lost
    from validated

),

overall as (

    select
        count(*) as line_count,
        count(*) filter (where lost_lines.is_lost) as lost_count,
        coalesce(count(*) filter (where lost_lines.is_lost) / nullif(count(*), 0), 0) as lost_share
    from lost_lines

),

lost_reasons as (

    select
        string_agg(
            reason_counts.reject_reason || ' ' || reason_counts.line_count, ', '
            order by reason_counts.line_count desc, reason_counts.reject_reason asc
        ) as reasons
    from (
        select
            lost_lines.reject_reason,
            count(*) as line_count
        from lost_lines
        where lost_lines.is_lost
        group by lost_lines.reject_reason
    ) as reason_counts

),

by_product as (

    select
        lost_lines.product_id,
        count(*) as line_count,
        count(*) filter (where lost_lines.is_lost) / count(*) as lost_share,
        mode(lost_lines.reject_reason) filter (where lost_lines.is_lost) as main_reason
    from lost_lines
    inner join products
        on lost_lines.product_id = products.product_id
    group by lost_lines.product_id
    having count(*) >= {{ var('quarantine_gate_min_lines') }}

),

products_over as (

    select
        count(*) as product_count,
        array_to_string(
            list_slice(
                list(
                    by_product.product_id || ' ' || printf('%.0f%%', 100 * by_product.lost_share) || ' of '
                    || by_product.line_count || ' lines (' || by_product.main_reason || ')'
                    order by by_product.lost_share desc, by_product.product_id asc
                ),
                1,
                5
            ),
            ', '
        ) as worst
    from by_product
    where by_product.lost_share > {{ var('max_product_quarantined_share') }}

),

snapshot_totals as (

    select
        count(*) as snapshot_count,
        count(*) filter (where snapshots.reject_reason is not null) as lost_count,
        coalesce(count(*) filter (where snapshots.reject_reason is not null) / nullif(count(*), 0), 0) as lost_share
    from snapshots

),

gates as (

    select
        'sales lines' as gate,
        overall.lost_share > {{ var('max_quarantined_share') }} as is_violated,
        'quarantine gate: ' || printf('%.1f%%', 100 * overall.lost_share) || ' of the ' || overall.line_count
        || ' sales lines in scope are quarantined (duplicates aside), above var max_quarantined_share = '
        || printf('%.1f%%', 100 * {{ var('max_quarantined_share') }}) || ': ' || coalesce(lost_reasons.reasons, '')
        || '. The lines are in int_sales_lines_quarantined; fix the source data, or raise the var if it is right'
            as message
    from overall
    cross join lost_reasons

    union all

    select
        'products' as gate,
        products_over.product_count > 0 as is_violated,
        'quarantine gate: ' || products_over.product_count || ' product(s) lost more than '
        || printf('%.0f%%', 100 * {{ var('max_product_quarantined_share') }})
        || ' of their sales lines in scope to quarantine (var max_product_quarantined_share): '
        || coalesce(products_over.worst, '')
        || '. The lines are in int_sales_lines_quarantined; fix the source data, or raise the var if it is right'
            as message
    from products_over

    union all

    select
        'stock snapshots' as gate,
        snapshot_totals.lost_share > {{ var('max_quarantined_share') }} as is_violated,
        'quarantine gate: ' || printf('%.1f%%', 100 * snapshot_totals.lost_share) || ' of the '
        || snapshot_totals.snapshot_count || ' stock snapshots in scope are quarantined, above var '
        || 'max_quarantined_share; the reasons are in int_stock_snapshots_validated' as message
    from snapshot_totals

),

violations as (

    -- every violated gate in one message, the sales lines gate first, so the message does not depend
    -- on which row a thread happens to evaluate first
    select string_agg(gates.message, ' | ' order by gates.gate = 'sales lines' desc, gates.gate) as message
    from gates
    where gates.is_violated

)

-- error() stops the test with the message; a filter, so it is evaluated however the test is wrapped
select violations.message
from violations
where case when violations.message is not null then error(violations.message) else false end
