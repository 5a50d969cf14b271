with source as (
    select * from {{ source('core', 'interviews') }}
)

select
    organization_id,
    source_id,
    interview_id,
    candidate_id,
    candidate_name,
    job_id,
    job_title,
    interviewer_id,
    interviewer_name,
    interviewer_email,
    scheduled_date,
    duration_minutes,
    interview_type,
    status,
    meeting_link,
    feedback,
    rating,
    recommendation,
    {{ sync_columns() }}
from source
