{#
  The day the models count "now" from: the dbt var `as_of_date` (YYYY-MM-DD) when given
  (`dbt build --vars '{as_of_date: 2026-03-31}'`, for a reproducible build or a test),
  else the current date.
#}
{% macro as_of_date() -%}
    {%- if var('as_of_date', none) -%}
        cast('{{ var("as_of_date") }}' as date)
    {%- else -%}
        current_date
    {%- endif -%}
{%- endmacro %}
