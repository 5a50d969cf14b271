with source as (
    select * from {{ source('core', 'candidates') }}
)

select
    source.organization_id,
    source.source_id,
    source.candidate_id,
    source.first_name,
    source.last_name,
    source.email,
    source.phone,
    source.current_stage,
    {{ reference_columns('source', 'applied_for_job_id') }},
    source.applied_for_job_title,
    source.source,
    source.application_date,
    source.status,
    {{ sync_columns('source') }}
from source
{{ reference_join('source', 'applied_for_job_id', 'job_requisitions') }}
