-- Every raw sales line known at the as-of (see macro sales_line_in_scope), once, with the reason it
-- is rejected or null when accepted. Reasons are checked in this order and the first match wins:
--   duplicate        a repeat of an earlier line: same line id, date, product, quantity and price
--                    text (the first loaded copy is kept)
--   null_product     no product id
--   unknown_product  product id not in the product master
--   bad_date         sale date not YYYY-MM-DD, or before the var min_sale_date
--   future_date      sale date after the day the line was loaded
--   bad_quantity     quantity not an integer
--   absurd_quantity  |quantity| above absurd_quantity_multiple x the product's robust level (the
--                    median |quantity| of its lines in scope), or above the ceiling max_line_quantity
--   bad_price        unit price not a finite number, negative, above absurd_price_multiple x the
--                    product's median positive price, or above the ceiling max_unit_price
--   zero_quantity    quantity 0: nothing sold, nothing returned
-- Absurd is relative to the product itself, so no unit of measure or currency is assumed: a line is
-- compared with the product's other lines, which arrive in the same grain (daily lines, or the
-- monthly totals an import writes). The ceilings only catch values no real data holds (10^9).
-- Lines loaded after the load cut-off, or sold after the as-of month end, are not here at all: they
-- belong to a later batch (mart_quarantine_summary counts them as not_yet_in_scope).
-- Speed: the lines (staging and in scope) are read again by each of their readers (`not
-- materialized`) rather than buffered once: buffering every wide line for four readers made DuckDB
-- spill at tens of millions of lines, and each reader needs only a few of the columns.
with

sales_lines as not materialized (

    select * from {{ ref('stg_raw__sales_lines') }}

),

batch as (

    select * from {{ ref('int_batch_parameters') }}

),

products as (

    select * from {{ ref('int_products_as_of') }}

),

in_scope as not materialized (

    select
        sales_lines.*,
        hash(
            sales_lines.line_id,
            sales_lines.sale_date_raw,
            sales_lines.product_id_raw,
            sales_lines.quantity_raw,
            sales_lines.unit_price_raw
        ) as content_hash
    from sales_lines
    cross join batch
    where {{ sales_line_in_scope('sales_lines', 'batch') }}

),

-- the robust level of each product: the median of its lines (one absurd line cannot move it)
product_levels as (

    select
        in_scope.product_id,
        median(abs(in_scope.quantity)) filter (where in_scope.quantity != 0) as median_abs_quantity,
        median(in_scope.unit_price) filter (where in_scope.unit_price > 0 and isfinite(in_scope.unit_price))
            as median_unit_price
    from in_scope
    where in_scope.product_id is not null
    group by in_scope.product_id

),

-- Exact duplicates are rare: find the content hashes that repeat (a hash collision only makes a
-- line a candidate) and number the copies by load time inside those groups alone, which spares a
-- window sort of every line.
repeated_hashes as (

    select in_scope.content_hash
    from in_scope
    group by in_scope.content_hash
    having count(*) > 1

),

numbered as (

    select
        in_scope.*,
        1 as occurrence_number
    from in_scope
    anti join repeated_hashes
        on in_scope.content_hash = repeated_hashes.content_hash

    union all

    select
        in_scope.*,
        row_number() over (
            partition by
                in_scope.line_id,
                in_scope.sale_date_raw,
                in_scope.product_id_raw,
                in_scope.quantity_raw,
                in_scope.unit_price_raw
            order by in_scope.loaded_at nulls last, in_scope.loaded_at_raw
        ) as occurrence_number
    from in_scope
    semi join repeated_hashes
        on in_scope.content_hash = repeated_hashes.content_hash

),

validated as (

    select
        -- ids
        {{ dbt_utils.generate_surrogate_key([
            'numbered.line_id',
            'numbered.sale_date_raw',
            'numbered.product_id_raw',
            'numbered.quantity_raw',
            'numbered.unit_price_raw',
            'numbered.occurrence_number',
        ]) }} as sales_line_key,
        numbered.line_id,
        numbered.occurrence_number,
        numbered.product_id,

        -- parsed values
        numbered.sale_date,
        numbered.quantity,
        numbered.unit_price,
        numbered.loaded_at,

        -- raw text, for the quarantine report
        numbered.sale_date_raw,
        numbered.product_id_raw,
        numbered.quantity_raw,
        numbered.unit_price_raw,
        numbered.loaded_at_raw,

        -- verdict
        case
            when numbered.occurrence_number > 1 then 'duplicate'
            when numbered.product_id is null then 'null_product'
            when products.product_id is null then 'unknown_product'
            when numbered.sale_date is null or numbered.sale_date < date '{{ var("min_sale_date") }}'
                then 'bad_date'
            when numbered.sale_date > cast(numbered.loaded_at as date) then 'future_date'
            when numbered.quantity is null then 'bad_quantity'
            when
                abs(numbered.quantity) > {{ var('max_line_quantity') }}
                or abs(numbered.quantity) > {{ var('absurd_quantity_multiple') }} * product_levels.median_abs_quantity
                then 'absurd_quantity'
            when
                numbered.unit_price is null
                or not isfinite(numbered.unit_price)
                or numbered.unit_price < 0
                or numbered.unit_price > {{ var('max_unit_price') }}
                or numbered.unit_price > {{ var('absurd_price_multiple') }} * product_levels.median_unit_price
                then 'bad_price'
            when numbered.quantity = 0 then 'zero_quantity'
        end as reject_reason,
        batch.as_of_month

    from numbered
    cross join batch
    left join products
        on numbered.product_id = products.product_id
    left join product_levels
        on numbered.product_id = product_levels.product_id

)

select * from validated
