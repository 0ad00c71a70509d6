{#- A raw value as a whole number (BIGINT), or null when it is not one: "12" and 12.0 parse, "12.5",
    "abc" and "" stay null instead of being rounded or failing the cast (the staging models keep the
    raw text beside it, so a reader can see what was sent). -#}
{% macro try_whole_number(column) -%}
    case
        when
            try_cast(trim(cast({{ column }} as varchar)) as double)
            = floor(try_cast(trim(cast({{ column }} as varchar)) as double))
            then cast(try_cast(trim(cast({{ column }} as varchar)) as double) as bigint)
    end
{%- endmacro %}
