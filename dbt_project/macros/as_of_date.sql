{#
  "Today": the var `as_of_date` (YYYY-MM-DD) when given, to pin it for tests, for a
  reproducible build and to ask as of another day:

      dbt build --vars '{as_of_date: 2027-01-06}'

  else the date now in `timezone` (an organization's, a column or expression) when given,
  else the database's current date (the marts that count whole months past).
  The one place that says which day it is: stg_employments' is_current / is_scheduled,
  employee_timeline's is_scheduled, headcount and leave liability read it. In a view (staging)
  the date is taken when the view is read, so a row dated ahead becomes current on its day
  without a sync or a build.
#}
{% macro as_of_date(timezone=none) -%}
    {%- set pinned = var('as_of_date', none) -%}
    {%- if pinned -%}
        cast('{{ pinned }}' as date)
    {%- elif timezone -%}
        cast({{ local_timestamp('current_timestamp', timezone) }} as date)
    {%- else -%}
        current_date
    {%- endif -%}
{%- endmacro %}
