-- Attendance records summed up per employee and day (normally one record a day; with
-- several, the first check-in and the last check-out count, and the hours add up).
-- Worked seconds come from the timestamps (exact, time-zone safe), only of records that
-- have both a check-in and a check-out. Records whose employee resolves to no employee are
-- left out (stg_attendance's references_resolve test fails when they are more than a few).
with attendance as (
    select *
    from {{ ref('stg_attendance') }}
    where not is_deleted
      and employee_id is not null
),

records as (
    select
        organization_id,
        employee_id,
        attendance_date,
        check_in_at,
        check_out_at,
        case
            when check_in_at is not null and check_out_at is not null
                then {{ epoch_seconds('check_out_at') }} - {{ epoch_seconds('check_in_at') }}
        end as worked_seconds,
        case when (check_in_at is null) <> (check_out_at is null) then 1 else 0 end as is_half_punched
    from attendance
)

select
    organization_id,
    employee_id,
    attendance_date,
    count(*) as attendance_records,
    min(check_in_at) as first_check_in_at,
    max(check_out_at) as last_check_out_at,
    count(check_in_at) as check_ins,
    sum(is_half_punched) as half_punched_records,
    sum(worked_seconds) as worked_seconds
from records
group by organization_id, employee_id, attendance_date
