{#- The selected forecasts of the latest as-of month of a forecast table (used by the sanity tests). -#}
{% macro latest_selected_forecasts(model) %}
    select *
    from {{ model }}
    where is_selected
        and as_of_month = (select max(as_of_month) from {{ model }})
{% endmacro %}
