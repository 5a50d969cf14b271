-- The days of the attendance calendar that approved leave covers, one row per employee
-- and day (overlapping requests collapse; the first leave type alphabetically is kept).
with leave_requests as (
    select *
    from {{ ref('stg_leave_requests') }}
    where status = 'approved'
      and not is_deleted
),

calendar as (
    select organization_id, calendar_date
    from {{ ref('int_calendar_days') }}
)

select
    leave_requests.organization_id,
    leave_requests.employee_id,
    calendar.calendar_date as leave_date,
    min(leave_requests.leave_type) as leave_type,
    min(leave_requests.source_id) as leave_request_source_id
from leave_requests
{{ each_day('leave_requests.start_date', 'leave_requests.end_date') }}
inner join calendar
    on calendar.organization_id = leave_requests.organization_id
    and calendar.calendar_date = days.day_date
group by leave_requests.organization_id, leave_requests.employee_id, calendar.calendar_date
