{#- The selected forecasts of the batch's as-of month (int_batch_parameters), used by the sanity
    tests. Not the table's latest month: replaying an earlier month while later months are stored
    must check the month being built. -#}
{% macro latest_selected_forecasts(model) %}
    select *
    from {{ model }}
    where is_selected
        and as_of_month = (select as_of_month from {{ ref('int_batch_parameters') }})
{% endmacro %}
