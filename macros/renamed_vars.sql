{#- Forecasting vars carry the names of their ForecastConfig fields since the package restructuring.
    A run that still passes a former name fails here with the new one, instead of silently using the
    default (dbt ignores unknown vars). Called by on-run-start in dbt_project.yml. -#}

{% macro check_renamed_vars() -%}
    {%- set renamed = {
        'forecast_horizon': 'horizon',
        'backtest_origins': 'n_origins',
        'forecast_n_jobs': 'n_jobs',
        'forecast_seed': 'seed',
        'forecast_models': 'models',
    } -%}
    {%- for old, new in renamed.items() -%}
        {%- if var(old, none) is not none -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ old ~ " was renamed to " ~ new ~ " (the name of its ForecastConfig field): pass --vars '{"
                ~ new ~ ": ...}' instead"
            ) }}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}
