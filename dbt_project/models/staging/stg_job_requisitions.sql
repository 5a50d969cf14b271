with source as (
    select * from {{ source('core', 'job_requisitions') }}
)

select
    source.organization_id,
    source.source_id,
    source.requisition_id,
    source.title,
    source.department,
    {{ reference_columns('source', 'hiring_manager_id') }},
    source.hiring_manager_name,
    source.status,
    source.headcount,
    source.filled_positions,
    source.location,
    source.job_type,
    source.created_date,
    source.target_hire_date,
    {{ sync_columns('source') }}
from source
{{ reference_join('source', 'hiring_manager_id', 'employees') }}
