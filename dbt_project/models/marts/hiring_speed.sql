-- Per job requisition: time to fill (opened -> the first synced version showing it filled)
-- and time to hire of its hired candidates (application -> the day the candidate was first
-- seen at `hired`, from the candidate's synced versions, not its last update).
with {{ version_history('job_requisitions', 'stg_job_requisitions', 'source_id') }},

default_settings as (
    select timezone from {{ ref('organization_settings') }} where organization_id = '_default'
),

filled as (
    select
        history.organization_id,
        history.source_id as job_requisition_id,
        min(cast({{ local_timestamp('history.valid_from', 'coalesce(settings.timezone, default_settings.timezone)') }}
                 as date)) as filled_on
    from history
    cross join default_settings
    left join {{ ref('int_organization_settings') }} as settings
        on settings.organization_id = history.organization_id
    where {{ canonical_field('status') }} = 'filled'
    group by history.organization_id, history.source_id
),

first_hires as (
    select
        organization_id,
        applied_for_job_id,
        {{ dbt.datediff('application_date', 'entered_on', 'day') }} as days_to_hire,
        row_number() over (partition by organization_id, candidate_id order by entry_number) as hire_number
    from {{ ref('candidate_stage_history') }}
    where stage = 'hired'
),

hires as (
    select
        organization_id,
        applied_for_job_id as job_requisition_id,
        count(*) as hired_candidates,
        avg(days_to_hire) as time_to_hire_days,
        percentile_cont(0.5) within group (order by days_to_hire) as median_time_to_hire_days
    from first_hires
    where hire_number = 1
    group by organization_id, applied_for_job_id
)

select
    requisitions.organization_id,
    requisitions.source_id as job_requisition_id,
    requisitions.requisition_id as requisition_number,
    requisitions.title,
    requisitions.department,
    requisitions.status,
    requisitions.created_date as opened_on,
    filled.filled_on,
    {{ dbt.datediff('requisitions.created_date', 'filled.filled_on', 'day') }} as time_to_fill_days,
    cast(coalesce(hires.hired_candidates, 0) as integer) as hired_candidates,
    {{ round_numeric('hires.time_to_hire_days', 2) }} as time_to_hire_days,
    {{ round_numeric('hires.median_time_to_hire_days', 2) }} as median_time_to_hire_days
from {{ ref('stg_job_requisitions') }} as requisitions
left join filled
    on filled.organization_id = requisitions.organization_id
    and filled.job_requisition_id = requisitions.source_id
left join hires
    on hires.organization_id = requisitions.organization_id
    and hires.job_requisition_id = requisitions.source_id
where not requisitions.is_deleted
