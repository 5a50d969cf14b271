with source as (
    select * from {{ source('core', 'job_requisitions') }}
)

select
    organization_id,
    source_id,
    requisition_id,
    title,
    department,
    hiring_manager_id,
    hiring_manager_name,
    status,
    headcount,
    filled_positions,
    location,
    job_type,
    created_date,
    target_hire_date,
    {{ sync_columns() }}
from source
