{#- An optional raw source (docs/contracts.md "Purchasing inputs"): its files, or, when its folder is
    absent or holds no file of the raw format, an empty relation with the contract's columns, so a
    project without purchasing data still builds. `columns` maps each contract column to its type
    (the types a parquet file of the contract gives, so a folder that appears later keeps the schema).
    The source is referenced in both cases, so lineage and docs show it. -#}
{% macro optional_raw_source(table_name, columns) -%}
    {%- set relation = source('raw', table_name) -%}
    {%- if execute and not raw_source_has_files(table_name) -%}
        select
        {%- for name, data_type in columns.items() %}
            cast(null as {{ data_type }}) as {{ name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
        where false
    {%- else -%}
        select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}


{% macro raw_source_has_files(table_name) -%}
    {#- True when DEMAND_RAW_DIR/<table_name>/ holds at least one file of the raw format (DEMAND_RAW_FORMAT). -#}
    {%- set extension = 'csv' if env_var('DEMAND_RAW_FORMAT', 'parquet') == 'csv' else 'parquet' -%}
    {%- set pattern = env_var('DEMAND_RAW_DIR', 'data/raw') ~ '/' ~ table_name ~ '/*.' ~ extension -%}
    {#- a path may hold an apostrophe (o'clock/data): doubled, as in every SQL string literal -#}
    {%- set found = run_query("select count(*) from glob('" ~ pattern | replace("'", "''") ~ "')") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}
