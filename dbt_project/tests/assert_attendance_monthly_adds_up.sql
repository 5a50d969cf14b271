-- Every month's day counts add up to its working days, and its totals equal the sum of
-- its days in attendance_daily; attendance_rate stays within 0..1.
with daily as (
    select
        organization_id,
        employee_id,
        month_start,
        count(*) as working_days,
        sum(case when is_late then 1 else 0 end) as late_arrivals,
        coalesce(sum(worked_hours), 0) as total_hours
    from {{ ref('attendance_daily') }}
    group by organization_id, employee_id, month_start
)

select monthly.*
from {{ ref('attendance_monthly') }} as monthly
left join daily
    on daily.organization_id = monthly.organization_id
    and daily.employee_id = monthly.employee_id
    and daily.month_start = monthly.month_start
where daily.working_days is null
   or monthly.present_days + monthly.incomplete_days + monthly.leave_days + monthly.absent_days
      + monthly.inactive_days <> monthly.working_days
   or monthly.working_days <> daily.working_days
   or monthly.late_arrivals <> daily.late_arrivals
   or monthly.total_hours <> daily.total_hours
   or monthly.attendance_rate < 0
   or monthly.attendance_rate > 1
