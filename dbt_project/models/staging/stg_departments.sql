with source as (
    select * from {{ source('core', 'departments') }}
)

select
    source.organization_id,
    source.source_id,
    source.department_id,
    source.name,
    {{ reference_columns('source', 'head_id') }},
    source.head_name,
    source.employee_count,
    source.location,
    {{ sync_columns('source') }}
from source
{{ reference_join('source', 'head_id', 'employees') }}
