{#
  References resolved once, in staging, through the warehouse view core.record_keys (one row
  per key a reference may hold: a record's source id, or its unique business key such as
  EMP-000001, resolved to the record's source id; id first). A staging model with a
  reference `column` to `entity`:

      select
          ...,
          {{ reference_columns('source', 'employee_id') }},
          ...
      from source
      {{ reference_join('source', 'employee_id', 'employees') }}

  gives `employee_id`, the referenced record's source id (what stg_employees.employee_id and
  every other source_id hold; null when the value resolves to nothing), and `employee_id_ref`,
  the value as the source sent it. A row whose reference does not resolve is kept (null key,
  original value); the references_resolve test judges how many such rows there are.
#}

{% macro reference_key_alias(column) -%}
    {{ column }}__key
{%- endmacro %}

{# The one join of a reference to core.record_keys: a left join, at most one match per value. #}
{% macro reference_join(relation, column, entity) -%}
    left join {{ source('core', 'record_keys') }} as {{ reference_key_alias(column) }}
        on {{ reference_key_alias(column) }}.organization_id = {{ relation }}.organization_id
        and {{ reference_key_alias(column) }}.entity = '{{ entity }}'
        and {{ reference_key_alias(column) }}.reference = {{ relation }}.{{ column }}
{%- endmacro %}

{# The resolved key under the column's own name, and the source's value as <column>_ref. #}
{% macro reference_columns(relation, column) -%}
    {{ reference_key_alias(column) }}.source_id as {{ column }},
    {{ relation }}.{{ column }} as {{ column }}_ref
{%- endmacro %}

{#
  Tolerance of the references_resolve test (var `reference_tolerance`) as the number of
  unresolved references an organization's table may have: share x references, at least
  min_rows, at most max_rows (harvey_pipelines/assets/quality.py reads the same var).
#}
{% macro tolerated_unresolved(references) -%}
    {%- set tolerance = var('reference_tolerance') -%}
    floor(least(cast({{ tolerance['max_rows'] }} as {{ dbt.type_numeric() }}),
                greatest(cast({{ tolerance['min_rows'] }} as {{ dbt.type_numeric() }}),
                         cast({{ tolerance['share'] }} as {{ dbt.type_numeric() }}) * {{ references }})))
{%- endmacro %}

{#
  on-run-end: the failing rows of every failed references_resolve test, written to dbt's log
  (dbt itself reports only how many rows a test returned), so the log names the organization,
  table, column, how many references do not resolve and examples.
#}
{% macro log_unresolved_references(results) %}
    {% if execute %}
        {% for result in results %}
            {% set node = result.node %}
            {% if result.status in ('fail', 'warn') and node.resource_type == 'test'
                  and node.test_metadata is defined and node.test_metadata is not none
                  and node.test_metadata.name == 'references_resolve' %}
                {% set rows = run_query(node.compiled_code) %}
                {% for row in rows %}
                    {% do log('Unresolved references (' ~ node.name ~ '): organization ' ~ row['organization_id']
                              ~ ', ' ~ row['table_name'] ~ '.' ~ row['column_name'] ~ ' -> ' ~ row['referenced_entity']
                              ~ ': ' ~ row['unresolved'] ~ ' of ' ~ row['live_references'] ~ ' live references resolve to no '
                              ~ 'record (tolerated ' ~ row['tolerated'] ~ '), e.g. ' ~ row['examples'], info=true) %}
                {% endfor %}
            {% endif %}
        {% endfor %}
    {% endif %}
{% endmacro %}
