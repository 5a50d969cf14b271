with source as (
    select * from {{ source('core', 'candidates') }}
)

select
    organization_id,
    source_id,
    candidate_id,
    first_name,
    last_name,
    email,
    phone,
    current_stage,
    applied_for_job_id,
    applied_for_job_title,
    source,
    application_date,
    status,
    {{ sync_columns() }}
from source
