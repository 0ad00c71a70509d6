{#- Post-hook of the marts: drop what dbt-duckdb leaves behind of the model just built.

    An incremental *Python* model is written to a temp relation first, then delete+insert'ed into
    the target. dbt-duckdb names that relation "<model>__dbt_tmp<timestamp>" without a schema and
    marks it temporary, so the materialization does not drop it; but the Python writer creates it
    with a plain `create table` on its own cursor (a DuckDB temp table would be invisible to the
    SQL that follows), so it stays in the default schema after every incremental run. A full
    refresh can likewise leave "<model>__dbt_backup". This hook drops every such table of the
    model, whichever run left it (a failed run's included). -#}
{% macro drop_temp_relations() %}
    {%- if execute and this is not none -%}
        {%- set leftovers_sql -%}
            select table_schema, table_name
            from information_schema.tables
            where
                table_catalog = '{{ this.database }}'
                and (
                    starts_with(table_name, '{{ this.identifier }}__dbt_tmp')
                    or starts_with(table_name, '{{ this.identifier }}__dbt_backup')
                )
        {%- endset -%}
        {%- set leftovers = run_query(leftovers_sql) -%}
        {%- for row in leftovers.rows -%}
            drop table if exists "{{ this.database }}"."{{ row[0] }}"."{{ row[1] }}";
        {% endfor -%}
    {%- endif -%}
{% endmacro %}
