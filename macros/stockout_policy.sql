{% macro stockout_policy() -%}
    {#- The var stockout_policy, checked: `impute` (stock-out months get an imputed demand) or
        `exclude` (they keep the observed demand and are flagged exclude_from_training). -#}
    {%- set policy = var('stockout_policy', 'impute') | string | trim | lower -%}
    {%- if policy not in ('impute', 'exclude') -%}
        {{ exceptions.raise_compiler_error("var stockout_policy must be 'impute' or 'exclude', got '" ~ policy ~ "'") }}
    {%- endif -%}
    {{ return(policy) }}
{%- endmacro %}
