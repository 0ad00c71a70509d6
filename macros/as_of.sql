{#- The as-of month of a batch: var `as_of_month` ("YYYY-MM"), or empty for the last complete month
    in the data (resolved in the model int_batch_parameters). -#}

{% macro as_of_month_literal() -%}
    {#- A SQL date literal for the first day of the as-of month, or `null` when the var is empty. -#}
    {%- set value = (var('as_of_month', '') or '') | string | trim -%}
    {%- if value in ('', 'None', 'none', 'null') -%}
        cast(null as date)
    {%- elif modules.re.fullmatch('[0-9]{4}-(0[1-9]|1[0-2])(-[0-9]{2})?', value) -%}
        date '{{ value[:7] }}-01'
    {%- else -%}
        {{ exceptions.raise_compiler_error("var as_of_month must be 'YYYY-MM' or empty, got '" ~ value ~ "'") }}
    {%- endif -%}
{%- endmacro %}


{% macro sales_line_in_scope(line, batch) -%}
    {#- True when a sales line (staging columns, alias `line`) was known at the as-of of the batch
        (alias `batch`, the row of int_batch_parameters): loaded by the load cut-off, and sold by the
        as-of month end. A line without a usable sale date, or dated after the day it was loaded
        (a future date), is judged by its load time alone, so that quarantine sees it. A line
        without a load time counts as loaded on its sale date. -#}
    (
        coalesce({{ line }}.loaded_at, cast({{ line }}.sale_date as timestamp)) <= {{ batch }}.load_cutoff_ts
        or ({{ line }}.loaded_at is null and {{ line }}.sale_date is null)
    )
    and (
        {{ line }}.sale_date is null
        or {{ line }}.sale_date <= {{ batch }}.as_of_month_end
        or {{ line }}.sale_date > cast({{ line }}.loaded_at as date)
    )
{%- endmacro %}
