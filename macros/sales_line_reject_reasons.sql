{% macro sales_line_reject_reasons() -%}
    {#- Reasons a sales line is quarantined, in the order they are checked (the first match wins).
        Keep in step with int_sales_lines_validated and the accepted_values tests. -#}
    {{ return([
        'duplicate',
        'null_product',
        'unknown_product',
        'bad_date',
        'future_date',
        'bad_quantity',
        'absurd_quantity',
        'bad_price',
        'zero_quantity',
    ]) }}
{%- endmacro %}
