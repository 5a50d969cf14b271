with source as (
    select * from {{ source('core', 'interviews') }}
)

select
    source.organization_id,
    source.source_id,
    source.interview_id,
    {{ reference_columns('source', 'candidate_id') }},
    source.candidate_name,
    {{ reference_columns('source', 'job_id') }},
    source.job_title,
    {{ reference_columns('source', 'interviewer_id') }},
    source.interviewer_name,
    source.interviewer_email,
    source.scheduled_date,
    source.duration_minutes,
    source.interview_type,
    source.status,
    source.meeting_link,
    source.feedback,
    source.rating,
    source.recommendation,
    {{ sync_columns('source') }}
from source
{{ reference_join('source', 'candidate_id', 'candidates') }}
{{ reference_join('source', 'job_id', 'job_requisitions') }}
{{ reference_join('source', 'interviewer_id', 'employees') }}
