-- The days of the attendance calendar that approved leave covers, one row per employee
-- and day (overlapping requests collapse; the first leave type alphabetically is kept).
with approved_days as (
    select organization_id, employee_id, leave_date, leave_type, leave_request_id
    from {{ ref('int_leave_request_days') }}
    where status = 'approved'
),

calendar as (
    select organization_id, calendar_date
    from {{ ref('int_calendar_days') }}
)

select
    approved_days.organization_id,
    approved_days.employee_id,
    calendar.calendar_date as leave_date,
    min(approved_days.leave_type) as leave_type,
    min(approved_days.leave_request_id) as leave_request_source_id
from approved_days
inner join calendar
    on calendar.organization_id = approved_days.organization_id
    and calendar.calendar_date = approved_days.leave_date
group by approved_days.organization_id, approved_days.employee_id, calendar.calendar_date
