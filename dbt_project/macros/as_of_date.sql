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

{#
  The CTE `months` (organization_id, month_start): every month from the month of an
  organization's first `first_day` in `relation` to the month of as_of_date(). Needs
  `with recursive`.
#}
{% macro months_to_as_of_date(relation, first_day) -%}
months (organization_id, month_start) as (
    select organization_id, cast({{ dbt.date_trunc('month', 'min(' ~ first_day ~ ')') }} as date)
    from {{ relation }}
    group by organization_id
    union all
    select organization_id, cast({{ dbt.dateadd('month', 1, 'month_start') }} as date)
    from months
    where month_start < cast({{ dbt.date_trunc('month', as_of_date()) }} as date)
)
{%- endmacro %}
