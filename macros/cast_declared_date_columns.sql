{#- Post-hook of the marts: a column the yml declares `data_type: date` is made DATE in the table.

    SQL marts cast in their SELECT and enforce it with a contract. dbt Python models cannot have a
    contract, and a pandas date column reaches DuckDB as TIMESTAMP (pandas has no date dtype), so
    without this hook a BI tool would see TIMESTAMP months in fct_forecasts and fct_model_registry.
    The ALTER runs once per new table; later incremental inserts are cast to the column's DATE type
    on the way in. A column already DATE is left alone. -#}
{% macro cast_declared_date_columns() %}
    {%- if execute and model.columns -%}
        {%- for column in adapter.get_columns_in_relation(this) -%}
            {%- set declared = model.columns.get(column.name) -%}
            {%- if declared and (declared.data_type or '') | lower == 'date' and column.dtype | lower != 'date' -%}
                alter table {{ this }} alter column {{ adapter.quote(column.name) }} set data type date;
            {% endif -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
