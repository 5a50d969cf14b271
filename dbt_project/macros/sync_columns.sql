{# The bookkeeping columns every core table carries, as staging passes them on
   (`relation`: the alias to qualify them with, when the model joins other relations). #}
{% macro sync_columns(relation=none) -%}
        {%- set p = relation ~ '.' if relation else '' %}
        {{ p }}updated_at as source_updated_at,
        {{ p }}synced_at,
        {{ p }}first_synced_at,
        {{ p }}sync_run_id,
        {{ p }}is_deleted,
        {{ p }}deleted_at
{%- endmacro %}
