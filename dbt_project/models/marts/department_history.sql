-- Effective-dated history of every department record (macros/history.sql).
with {{ version_history('departments', 'stg_departments', 'source_id') }},

parsed as (
    select
        history.organization_id,
        history.source_id,
        history.version_number,
        history.valid_from,
        history.valid_to,
        history.is_current,
        {{ canonical_field('department_id') }} as department_id,
        {{ canonical_field('name') }} as name,
        {{ canonical_field('head_id') }} as head_id,
        {{ canonical_field('location') }} as location,
        history.payload_sha256,
        history.fetched_at
    from history
)

select
    parsed.organization_id,
    parsed.source_id,
    parsed.version_number,
    parsed.valid_from,
    parsed.valid_to,
    parsed.is_current,
    parsed.department_id,
    parsed.name,
    {{ reference_columns('parsed', 'head_id') }},
    parsed.location,
    parsed.payload_sha256,
    parsed.fetched_at
from parsed
{{ reference_join('parsed', 'head_id', 'employees') }}
