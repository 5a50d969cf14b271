{%- set stages = ['applied', 'screening', 'technical_interview', 'onsite', 'offer', 'hired'] -%}
-- Per job requisition: its candidates by current stage and the conversion between
-- consecutive stages of applied -> screening -> technical_interview -> onsite -> offer -> hired.
--   reached_<stage>   candidates whose current stage is that stage or a later one
--   <a>_to_<b>_rate   reached_<b> / reached_<a> (null when reached_<a> is 0)
--   rejected, withdrawn are counted apart and in no reached_ count: the current stage is
--   all the source keeps, so how far they got is unknown
--   time_to_hire_days mean days from application_date to the hired candidate's last update
--   (source updated_at, as a date in the organization's time zone): an approximation, the
--   source has no hire date, and a hired record edited later moves it
-- Deleted requisitions and candidates are left out.
with requisitions as (
    select *
    from {{ ref('stg_job_requisitions') }}
    where not is_deleted
),

default_settings as (
    select timezone from {{ ref('organization_settings') }} where organization_id = '_default'
),

candidates as (
    select
        candidates.organization_id,
        candidates.source_id as candidate_id,
        candidates.applied_for_job_id,
        candidates.current_stage,
        case candidates.current_stage
            {% for stage in stages -%}
            when '{{ stage }}' then {{ loop.index }}
            {% endfor -%}
        end as stage_rank,
        candidates.application_date,
        cast({{ local_timestamp('candidates.source_updated_at',
                                'coalesce(settings.timezone, default_settings.timezone)') }} as date)
            as last_update_date
    from {{ ref('stg_candidates') }} as candidates
    cross join default_settings
    left join {{ ref('int_organization_settings') }} as settings
        on settings.organization_id = candidates.organization_id
    where not candidates.is_deleted
),

counted as (
    select
        requisitions.organization_id,
        requisitions.source_id as job_requisition_id,
        count(candidates.candidate_id) as candidates,
        {% for stage in stages -%}
        sum(case when candidates.current_stage = '{{ stage }}' then 1 else 0 end) as {{ stage }}_candidates,
        {% endfor -%}
        sum(case when candidates.current_stage = 'rejected' then 1 else 0 end) as rejected_candidates,
        sum(case when candidates.current_stage = 'withdrawn' then 1 else 0 end) as withdrawn_candidates,
        {% for stage in stages -%}
        sum(case when candidates.stage_rank >= {{ loop.index }} then 1 else 0 end) as reached_{{ stage }},
        {% endfor -%}
        avg(case
                when candidates.current_stage = 'hired'
                    then {{ dbt.datediff('candidates.application_date', 'candidates.last_update_date', 'day') }}
            end) as time_to_hire_days
    from requisitions
    left join candidates
        on candidates.organization_id = requisitions.organization_id
        and candidates.applied_for_job_id = requisitions.source_id
    group by requisitions.organization_id, requisitions.source_id
)

select
    requisitions.organization_id,
    requisitions.source_id as job_requisition_id,
    requisitions.requisition_id as requisition_number,
    requisitions.title,
    requisitions.department,
    requisitions.status,
    requisitions.headcount,
    requisitions.filled_positions,
    cast(counted.candidates as integer) as candidates,
    {% for stage in stages -%}
    cast(coalesce(counted.{{ stage }}_candidates, 0) as integer) as {{ stage }}_candidates,
    {% endfor -%}
    cast(coalesce(counted.rejected_candidates, 0) as integer) as rejected_candidates,
    cast(coalesce(counted.withdrawn_candidates, 0) as integer) as withdrawn_candidates,
    {% for stage in stages -%}
    cast(coalesce(counted.reached_{{ stage }}, 0) as integer) as reached_{{ stage }},
    {% endfor -%}
    {% for stage in stages[1:] -%}
    {%- set previous = stages[loop.index0] -%}
    case
        when counted.reached_{{ previous }} > 0
            then {{ round_numeric('1.0 * counted.reached_' ~ stage ~ ' / counted.reached_' ~ previous, 4) }}
    end as {{ previous }}_to_{{ stage }}_rate,
    {% endfor -%}
    {{ round_numeric('counted.time_to_hire_days', 2) }} as time_to_hire_days
from requisitions
inner join counted
    on counted.organization_id = requisitions.organization_id
    and counted.job_requisition_id = requisitions.source_id
