{# The bookkeeping columns every core table carries, as staging passes them on. #}
{% macro sync_columns() -%}
        updated_at as source_updated_at,
        synced_at,
        first_synced_at,
        sync_run_id,
        is_deleted,
        deleted_at
{%- endmacro %}
