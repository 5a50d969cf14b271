{#
  A reference that must resolve inside the same organization: every non-null
  column_name has a row in `to` with the same organization_id and `field` = the value.
  (A plain `relationships` test would accept a match in another organization.)
#}
{% test relationship_within_organization(model, column_name, to, field, organization_column='organization_id') %}
select child.{{ organization_column }}, child.{{ column_name }}
from {{ model }} as child
left join {{ to }} as parent
    on parent.{{ organization_column }} = child.{{ organization_column }}
    and parent.{{ field }} = child.{{ column_name }}
where child.{{ column_name }} is not null
  and parent.{{ field }} is null
{% endtest %}
