{#- Post-hook: also write the freshly built table as CSV for people who open it in a spreadsheet
    (<DEMAND_EXPORT_DIR>/<file_name>.csv, header row, sorted by `order_by`). Off with var export_marts: false,
    like the parquet export. -#}
{% macro export_csv(file_name, order_by=none) %}
    {%- if var('export_marts', true) -%}
        {%- set export_dir = env_var('DEMAND_EXPORT_DIR', 'exports') -%}
        copy (select * from {{ this }}{% if order_by %} order by {{ order_by }}{% endif %})
        to '{{ export_dir }}/{{ file_name }}.csv' (format csv, header)
    {%- endif -%}
{% endmacro %}
