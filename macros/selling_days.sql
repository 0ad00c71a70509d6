{% macro selling_days_in_month(month, launch_date, discontinued_date) -%}
    {#- Days of the month (a first-of-month date) on which the product could sell: between its launch
        date and its discontinuation date, both included; a null date does not limit. -#}
    greatest(
        0,
        date_diff(
            'day',
            greatest({{ month }}, coalesce({{ launch_date }}, {{ month }})),
            least(last_day({{ month }}), coalesce({{ discontinued_date }}, last_day({{ month }})))
        ) + 1
    )
{%- endmacro %}
