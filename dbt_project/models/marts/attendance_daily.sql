-- One row per employee and working day of the organization's attendance range.
--   days      the organization's calendar from its first to its last attendance date,
--             weekends (int_organization_settings.weekend_days) and holidays left out
--   employees not deleted, employed that day: hire_date <= day <= termination_date
--             (an open end when either is null)
--   status    present     checked in, and every record with a check-in has a check-out
--             incomplete  a check-in without a check-out (or a check-out without a check-in)
--             on_leave    no attendance, and approved leave covers the day (leave_type set), or
--                         the employee's status was on_leave that day (leave_type null)
--             inactive    no attendance, no approved leave, and the employee's status was
--                         inactive that day
--             absent      none of these
--             (an attendance record wins over leave and status: whoever checked in worked
--             that day; approved leave wins over the status)
--   employee status  int_employee_status_periods: from the day Harvey first saw a status
-- Local times use the organization's time zone (int_organization_settings.timezone).
with calendar as (
    select *
    from {{ ref('int_calendar_days') }}
    where is_working_day
),

employees as (
    select organization_id, employee_id, hire_date, termination_date
    from {{ ref('stg_employees') }}
    where not is_deleted
),

settings as (
    select * from {{ ref('int_organization_settings') }}
),

status_periods as (
    -- only the statuses that excuse a day: a small table
    select organization_id, employee_id, employment_status, valid_from, valid_to
    from {{ ref('int_employee_status_periods') }}
    where employment_status in ('on_leave', 'inactive')
),

employee_days as (
    select
        calendar.organization_id,
        employees.employee_id,
        calendar.calendar_date as attendance_date,
        calendar.month_start,
        calendar.day_name
    from calendar
    inner join employees
        on employees.organization_id = calendar.organization_id
        and (employees.hire_date is null or employees.hire_date <= calendar.calendar_date)
        and (employees.termination_date is null or employees.termination_date >= calendar.calendar_date)
),

joined as (
    select
        employee_days.*,
        settings.timezone,
        settings.work_start_minute,
        settings.grace_minutes,
        settings.standard_hours,
        settings.max_daily_overtime_hours,
        attendance.attendance_records,
        attendance.first_check_in_at,
        attendance.last_check_out_at,
        attendance.check_ins,
        attendance.half_punched_records,
        attendance.worked_seconds,
        leave_days.leave_type,
        status_periods.employment_status as period_status,
        {{ local_timestamp('attendance.first_check_in_at', 'settings.timezone') }} as check_in_local,
        {{ local_timestamp('attendance.last_check_out_at', 'settings.timezone') }} as check_out_local
    from employee_days
    inner join settings
        on settings.organization_id = employee_days.organization_id
    left join {{ ref('int_attendance_days') }} as attendance
        on attendance.organization_id = employee_days.organization_id
        and attendance.employee_id = employee_days.employee_id
        and attendance.attendance_date = employee_days.attendance_date
    left join {{ ref('int_approved_leave_days') }} as leave_days
        on leave_days.organization_id = employee_days.organization_id
        and leave_days.employee_id = employee_days.employee_id
        and leave_days.leave_date = employee_days.attendance_date
    left join status_periods
        on status_periods.organization_id = employee_days.organization_id
        and status_periods.employee_id = employee_days.employee_id
        and status_periods.valid_from <= employee_days.attendance_date
        -- an open end as a far date, not `valid_to is null or ...`: DuckDB (1.5) plans a join
        -- condition with an OR as a nested loop over every employee day and period
        and coalesce(status_periods.valid_to, cast('9999-12-31' as date)) >= employee_days.attendance_date
),

classified as (
    select
        *,
        case
            when check_ins > 0 and half_punched_records = 0 then 'present'
            when half_punched_records > 0 then 'incomplete'
            when leave_type is not null then 'on_leave'
            when period_status = 'on_leave' then 'on_leave'
            when period_status = 'inactive' then 'inactive'
            else 'absent'
        end as status,
        case
            when check_in_local is not null
                then {{ minutes_of_day('check_in_local') }} - work_start_minute
        end as minutes_after_start,
        {{ round_numeric('worked_seconds / 3600', 2) }} as attended_hours
    from joined
)

select
    organization_id,
    employee_id,
    attendance_date,
    month_start,
    day_name,
    status,
    case when status = 'on_leave' then leave_type end as leave_type,
    timezone,
    first_check_in_at as check_in_at,
    last_check_out_at as check_out_at,
    check_in_local,
    check_out_local,
    case
        when status in ('on_leave', 'inactive', 'absent') then cast(0 as {{ dbt.type_numeric() }})
        else attended_hours
    end as worked_hours,
    coalesce(minutes_after_start > grace_minutes, false) as is_late,
    case
        when minutes_after_start > grace_minutes then {{ round_numeric('minutes_after_start', 0) }}
        else cast(0 as {{ dbt.type_numeric() }})
    end as late_minutes,
    case
        when attended_hours > standard_hours then attended_hours - standard_hours
        else cast(0 as {{ dbt.type_numeric() }})
    end as overtime_hours,
    coalesce(attended_hours - standard_hours > max_daily_overtime_hours, false) as exceeds_overtime_limit,
    coalesce(attendance_records, 0) as attendance_records
from classified
