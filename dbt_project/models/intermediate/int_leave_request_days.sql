-- One row per day of every approved or pending leave request (not deleted), with whether
-- the day is a working day of the organization (not a weekend day of its settings, not a
-- holiday of its own or `_default`). Unlike int_approved_leave_days it is not limited to
-- the attendance range: leave balances count every day of a request, in whatever year.
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
      and status in ('approved', 'pending')
),

overall as (
    select min(start_date) as first_date, max(end_date) as last_date
    from requests
),

spine as (
    {{ date_spine('overall') }}
),

named_days as (
    select
        calendar_date,
        case {{ iso_day_of_week('calendar_date') }}
            when 1 then 'mon' when 2 then 'tue' when 3 then 'wed' when 4 then 'thu'
            when 5 then 'fri' when 6 then 'sat' else 'sun'
        end as day_name
    from spine
),

holidays as (
    select organization_id, cast(date as date) as holiday_date
    from {{ ref('holidays') }}
),

request_days as (
    select
        requests.organization_id,
        requests.leave_request_id,
        requests.employee_id,
        requests.leave_type,
        requests.status,
        named_days.calendar_date as leave_date,
        (',' || settings.weekend_days || ',') like ('%,' || named_days.day_name || ',%') as is_weekend,
        exists (
            select 1
            from holidays
            where holidays.holiday_date = named_days.calendar_date
              and holidays.organization_id in (requests.organization_id, '_default')
        ) as is_holiday
    from requests
    inner join named_days
        on named_days.calendar_date between requests.start_date and requests.end_date
    inner join {{ ref('int_organization_settings') }} as settings
        on settings.organization_id = requests.organization_id
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
