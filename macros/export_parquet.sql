{#- Post-hook of the marts: write the freshly built table to <DEMAND_EXPORT_DIR>/<name>.parquet so
    BI tools that cannot open a DuckDB file read the same data. Rewritten by every run; the folder
    is created by the batch (and by `make`), and var export_marts: false switches the export off. -#}
{% macro export_parquet() %}
    {%- if var('export_marts', true) -%}
        {%- set export_dir = env_var('DEMAND_EXPORT_DIR', 'exports') | replace("'", "''") -%}
        copy (select * from {{ this }}) to '{{ export_dir }}/{{ this.identifier }}.parquet' (format parquet)
    {%- endif -%}
{% endmacro %}
