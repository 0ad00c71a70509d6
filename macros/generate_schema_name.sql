{#- One place decides schema names: a folder's +schema is used as is (staging, intermediate,
    marts, elementary ...), without the target-schema prefix dbt adds by default. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
