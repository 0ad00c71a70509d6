-- The rejected sales lines of the batch, with their reason and raw text: the quarantine.
with

validated as (

    select * from {{ ref('int_sales_lines_validated') }}

),

quarantined as (

    select
        validated.sales_line_key,
        validated.line_id,
        validated.occurrence_number,
        validated.reject_reason,
        validated.product_id,
        validated.sale_date,
        validated.quantity,
        validated.unit_price,
        validated.loaded_at,
        validated.sale_date_raw,
        validated.product_id_raw,
        validated.quantity_raw,
        validated.unit_price_raw,
        validated.loaded_at_raw,
        validated.as_of_month
    from validated
    where validated.reject_reason is not null

)

select * from quarantined
