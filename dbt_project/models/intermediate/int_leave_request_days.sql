-- One row per day of every approved or pending leave request (not deleted), with whether
-- the day is a working day of the organization (not a weekend day of its settings, not a
-- holiday of int_organization_holidays). Unlike int_approved_leave_days it is not limited to
-- the attendance range: leave balances count every day of a request, in whatever year.
-- Requests whose employee resolves to no employee are left out (references_resolve judges them).
with requests as (
    select
        organization_id,
        source_id as leave_request_id,
        employee_id,
        leave_type,
        status,
        start_date,
        end_date
    from {{ ref('stg_leave_requests') }}
    where not is_deleted
      and employee_id is not null
      and status in ('approved', 'pending')
),

request_dates as (
    select
        requests.*,
        days.day_date as leave_date,
        {{ day_name('days.day_date') }} as day_name
    from requests
    {{ each_day('requests.start_date', 'requests.end_date') }}
),

request_days as (
    select
        request_dates.organization_id,
        request_dates.leave_request_id,
        request_dates.employee_id,
        request_dates.leave_type,
        request_dates.status,
        request_dates.leave_date,
        {{ is_weekend_day('settings.weekend_days', 'request_dates.day_name') }} as is_weekend,
        exists (
            select 1
            from {{ ref('int_organization_holidays') }} as holidays
            where holidays.organization_id = request_dates.organization_id
              and holidays.holiday_date = request_dates.leave_date
        ) as is_holiday
    from request_dates
    inner join {{ ref('int_organization_settings') }} as settings
        on settings.organization_id = request_dates.organization_id
)

select
    organization_id,
    leave_request_id,
    employee_id,
    leave_type,
    status,
    leave_date,
    cast(extract(year from leave_date) as integer) as leave_year,
    is_weekend,
    is_holiday,
    not is_weekend and not is_holiday as is_working_day
from request_days
