-- Each employee's events are numbered 1..n without gaps, in effective_date order, and
-- first_seen dates only come with manager and status changes (a status change always has
-- one; a manager change has one unless it comes from the employment rows' effective dates).
with numbered as (
    select
        organization_id,
        employee_id,
        event_sequence,
        event_type,
        date_source,
        effective_date,
        count(*) over (partition by organization_id, employee_id) as events,
        lag(effective_date) over (
            partition by organization_id, employee_id order by event_sequence
        ) as previous_effective_date
    from {{ ref('employee_timeline') }}
)

select *
from numbered
where event_sequence < 1
   or event_sequence > events
   or effective_date < previous_effective_date
   or (date_source = 'first_seen' and event_type not in ('manager_change', 'status_change'))
   or (event_type = 'status_change' and date_source <> 'first_seen')
