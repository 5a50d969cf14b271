-- attendance_daily has no weekend or holiday, no day outside an employee's employment,
-- and no day outside the organization's attendance range.
select daily.organization_id, daily.employee_id, daily.attendance_date
from {{ ref('attendance_daily') }} as daily
left join {{ ref('int_calendar_days') }} as calendar
    on calendar.organization_id = daily.organization_id
    and calendar.calendar_date = daily.attendance_date
inner join {{ ref('stg_employees') }} as employees
    on employees.organization_id = daily.organization_id
    and employees.employee_id = daily.employee_id
where calendar.calendar_date is null
   or not calendar.is_working_day
   or daily.attendance_date < employees.hire_date
   or daily.attendance_date > employees.termination_date
