{#
  Models land in the schema their folder names (staging, intermediate, marts, seeds),
  not in "<target schema>_<name>": analysts query marts.employee_timeline in every
  warehouse, DuckDB or PostgreSQL. A node without a custom schema uses the target's.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
