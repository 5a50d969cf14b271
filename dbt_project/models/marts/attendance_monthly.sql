-- Per employee and calendar month: the working days of attendance_daily counted by
-- status, late arrivals, hours. Months at the edges of an organization's attendance
-- range count only the days inside it. attendance_rate counts only the days the employee
-- was expected to work: present + incomplete + absent (leave and inactive days left out).
with daily as (
    select * from {{ ref('attendance_daily') }}
),

monthly as (
    select
        organization_id,
        employee_id,
        month_start,
        count(*) as working_days,
        sum(case when status = 'present' then 1 else 0 end) as present_days,
        sum(case when status = 'incomplete' then 1 else 0 end) as incomplete_days,
        sum(case when status = 'on_leave' then 1 else 0 end) as leave_days,
        sum(case when status = 'absent' then 1 else 0 end) as absent_days,
        sum(case when status = 'inactive' then 1 else 0 end) as inactive_days,
        sum(case when is_late then 1 else 0 end) as late_arrivals,
        coalesce(sum(worked_hours), 0) as total_hours,
        coalesce(sum(overtime_hours), 0) as overtime_hours,
        min(attendance_date) as first_day,
        max(attendance_date) as last_day
    from daily
    group by organization_id, employee_id, month_start
)

select
    organization_id,
    employee_id,
    month_start,
    first_day,
    last_day,
    working_days,
    present_days,
    incomplete_days,
    leave_days,
    absent_days,
    inactive_days,
    late_arrivals,
    cast(total_hours as {{ dbt.type_numeric() }}) as total_hours,
    cast(overtime_hours as {{ dbt.type_numeric() }}) as overtime_hours,
    case
        when present_days + incomplete_days + absent_days > 0
            then {{ round_numeric('1.0 * (present_days + incomplete_days) / (present_days + incomplete_days + absent_days)', 4) }}
    end as attendance_rate
from monthly
