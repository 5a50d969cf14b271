-- One row per compliance finding. Rules (severity):
--   overtime_beyond_limit (high)   attendance_daily overtime_hours > max_daily_overtime_hours
--   outside_shift_hours (medium)   on a working day, the first check-in before work_start - 2 h,
--                                  or the last check-out after work_start + standard_hours +
--                                  max_daily_overtime_hours + 2 h, local time (a check-out after
--                                  midnight counts from the day's midnight: 25:30); one row per
--                                  day, the evidence says which end (or both)
--   leave_exceeds_balance (high)   leave_balances available_days < 0, on exceeded_on
--   overlapping_leave (medium)     two approved or pending requests of one employee sharing a
--                                  day, one row per pair, on the first shared day
--   short_notice_leave (low)       an approved or pending request applied later than
--                                  start_date - min_notice_days (seed leave_policies), on
--                                  applied_date; leave types without a policy have no rule
-- Deleted employees and requests are left out (attendance_daily and leave_balances already do).
with settings as (
    select * from {{ ref('int_organization_settings') }}
),

employees as (
    select organization_id, employee_id
    from {{ ref('stg_employees') }}
    where not is_deleted
),

attendance as (
    select
        daily.organization_id,
        daily.employee_id,
        daily.attendance_date,
        daily.worked_hours,
        daily.overtime_hours,
        daily.exceeds_overtime_limit,
        settings.max_daily_overtime_hours,
        settings.work_start_minute - 120 as earliest_minute,
        settings.work_start_minute
            + (settings.standard_hours + settings.max_daily_overtime_hours + 2) * 60 as latest_minute,
        case
            when daily.check_in_local is not null then {{ minutes_of_day('daily.check_in_local') }}
        end as check_in_minute,
        case
            when daily.check_out_local is not null
                then ({{ epoch_seconds('daily.check_out_local') }}
                      - {{ epoch_seconds('cast(daily.attendance_date as ' ~ dbt.type_timestamp() ~ ')') }}) / 60
        end as check_out_minute
    from {{ ref('attendance_daily') }} as daily
    inner join settings
        on settings.organization_id = daily.organization_id
),

overtime as (
    select
        organization_id,
        employee_id,
        'overtime_beyond_limit' as rule,
        attendance_date as occurred_on,
        cast(attendance_date as {{ dbt.type_string() }}) as reference,
        'worked ' || {{ number_text('worked_hours') }} || ' h: '
            || {{ number_text('overtime_hours') }} || ' h overtime, limit '
            || {{ number_text('max_daily_overtime_hours') }} || ' h' as evidence,
        'high' as severity,
        'attendance' as source_entity
    from attendance
    where exceeds_overtime_limit
),

outside_shift as (
    select
        organization_id,
        employee_id,
        'outside_shift_hours' as rule,
        attendance_date as occurred_on,
        cast(attendance_date as {{ dbt.type_string() }}) as reference,
        concat_ws('; ',
            case
                when check_in_minute < earliest_minute
                    then 'check-in ' || {{ clock_text('check_in_minute') }}
                        || ' before ' || {{ clock_text('earliest_minute') }}
            end,
            case
                when check_out_minute > latest_minute
                    then 'check-out ' || {{ clock_text('check_out_minute') }}
                        || ' after ' || {{ clock_text('latest_minute') }}
            end
        ) as evidence,
        'medium' as severity,
        'attendance' as source_entity
    from attendance
    where check_in_minute < earliest_minute
       or check_out_minute > latest_minute
),

over_balance as (
    select
        organization_id,
        employee_id,
        'leave_exceeds_balance' as rule,
        exceeded_on as occurred_on,
        leave_type || ':' || cast(balance_year as {{ dbt.type_string() }}) as reference,
        leave_type || ' ' || cast(balance_year as {{ dbt.type_string() }}) || ': '
            || {{ number_text('used_days + pending_days') }} || ' days used or pending of '
            || {{ number_text('allocation_days') }} || ' (available '
            || {{ signed_number_text('available_days') }} || ')' as evidence,
        'high' as severity,
        'leave_balances' as source_entity
    from {{ ref('leave_balances') }}
    where available_days < 0
),

requests as (
    select
        leave_requests.organization_id,
        leave_requests.source_id as leave_request_id,
        leave_requests.employee_id,
        leave_requests.leave_type,
        leave_requests.status,
        leave_requests.start_date,
        leave_requests.end_date,
        leave_requests.applied_date,
        leave_requests.leave_type || ', ' || leave_requests.status || ', '
            || cast(leave_requests.start_date as {{ dbt.type_string() }}) || ' → '
            || cast(leave_requests.end_date as {{ dbt.type_string() }}) as summary
    from {{ ref('stg_leave_requests') }} as leave_requests
    inner join employees
        on employees.organization_id = leave_requests.organization_id
        and employees.employee_id = leave_requests.employee_id
    where not leave_requests.is_deleted
      and leave_requests.status in ('approved', 'pending')
),

overlapping as (
    select
        first_request.organization_id,
        first_request.employee_id,
        'overlapping_leave' as rule,
        case
            when first_request.start_date > second_request.start_date then first_request.start_date
            else second_request.start_date
        end as occurred_on,
        first_request.leave_request_id || '+' || second_request.leave_request_id as reference,
        first_request.leave_request_id || ' (' || first_request.summary || ') overlaps '
            || second_request.leave_request_id || ' (' || second_request.summary || ')' as evidence,
        'medium' as severity,
        'leave_requests' as source_entity
    from requests as first_request
    inner join requests as second_request
        on second_request.organization_id = first_request.organization_id
        and second_request.employee_id = first_request.employee_id
        and second_request.leave_request_id > first_request.leave_request_id
        and second_request.start_date <= first_request.end_date
        and first_request.start_date <= second_request.end_date
),

notice as (
    select
        requests.*,
        policies.min_notice_days,
        {{ dbt.datediff('requests.applied_date', 'requests.start_date', 'day') }} as notice_days
    from requests
    inner join {{ ref('int_leave_policies') }} as policies
        on policies.organization_id = requests.organization_id
        and policies.leave_type = requests.leave_type
    where requests.applied_date is not null
      and policies.min_notice_days is not null
),

short_notice as (
    select
        organization_id,
        employee_id,
        'short_notice_leave' as rule,
        applied_date as occurred_on,
        leave_request_id as reference,
        leave_request_id || ' applied ' || cast(applied_date as {{ dbt.type_string() }}) || ' for '
            || leave_type || ' leave from ' || cast(start_date as {{ dbt.type_string() }}) || ': '
            || cast(notice_days as {{ dbt.type_string() }}) || ' days of notice, policy '
            || cast(min_notice_days as {{ dbt.type_string() }}) as evidence,
        'low' as severity,
        'leave_requests' as source_entity
    from notice
    where notice_days < min_notice_days
),

violations as (
    select * from overtime
    union all
    select * from outside_shift
    union all
    select * from over_balance
    union all
    select * from overlapping
    union all
    select * from short_notice
)

select
    organization_id || ':' || employee_id || ':' || rule || ':' || reference as violation_id,
    organization_id,
    employee_id,
    rule,
    occurred_on,
    severity,
    evidence,
    source_entity,
    reference
from violations
