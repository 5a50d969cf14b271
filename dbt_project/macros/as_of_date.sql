{#
  "Today" of an organization: the date in its time zone now, or the var `as_of_date`
  (YYYY-MM-DD) when given, to pin it for tests and to ask as of another day:

      dbt build --vars '{as_of_date: 2027-01-06}'

  The one place that says which day it is: stg_employments' is_current / is_scheduled and
  employee_timeline's is_scheduled read it. In a view (staging) the date is taken when the
  view is read, so a row dated ahead becomes current on its day without a sync or a build.
#}
{% macro as_of_date(timezone) -%}
    {%- set pinned = var('as_of_date', none) -%}
    {%- if pinned -%}
        cast('{{ pinned }}' as date)
    {%- else -%}
        cast({{ local_timestamp('current_timestamp', timezone) }} as date)
    {%- endif -%}
{%- endmacro %}
