{#
  No two rows share the same values in these columns (a composite key such as
  organization_id + source_id). dbt_utils is not installed here, so it is our own.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as rows_with_this_key
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
