-- Per organization, interviewer and ISO week (Monday start, the interview's local date in
-- the organization's time zone): interviews by status and the mean rating given.
-- Deleted interviews and interviews without an interviewer or a scheduled time are left out,
-- and so are those whose interviewer resolves to no employee (interviewer_id is resolved in
-- staging; stg_interviews' references_resolve test judges how many do not).
with default_settings as (
    select timezone from {{ ref('organization_settings') }} where organization_id = '_default'
),

interviews as (
    select
        interviews.organization_id,
        interviews.interviewer_id,
        interviews.interviewer_name,
        interviews.status,
        interviews.rating,
        cast({{ local_timestamp('interviews.scheduled_date',
                                'coalesce(settings.timezone, default_settings.timezone)') }} as date)
            as local_date
    from {{ ref('stg_interviews') }} as interviews
    cross join default_settings
    left join {{ ref('int_organization_settings') }} as settings
        on settings.organization_id = interviews.organization_id
    where not interviews.is_deleted
      and interviews.interviewer_id is not null
      and interviews.scheduled_date is not null
),

weeks as (
    select
        *,
        cast({{ dbt.date_trunc('week', 'local_date') }} as date) as week_start
    from interviews
)

select
    organization_id,
    interviewer_id,
    max(interviewer_name) as interviewer_name,
    week_start,
    -- the ISO year is the year of the week's Thursday
    cast(extract(year from {{ dbt.dateadd('day', 3, 'week_start') }}) as integer) as iso_year,
    cast(extract(week from week_start) as integer) as iso_week,
    cast(count(*) as integer) as interviews,
    cast(sum(case when status = 'scheduled' then 1 else 0 end) as integer) as scheduled,
    cast(sum(case when status = 'completed' then 1 else 0 end) as integer) as completed,
    cast(sum(case when status = 'no_show' then 1 else 0 end) as integer) as no_shows,
    cast(sum(case when status = 'cancelled' then 1 else 0 end) as integer) as cancelled,
    {{ round_numeric('avg(rating)', 2) }} as average_rating
from weeks
group by organization_id, interviewer_id, week_start
