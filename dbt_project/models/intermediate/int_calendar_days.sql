-- One row per organization and calendar day of its attendance range: from the first to
-- the last attendance date the organization has (deleted records left out). Days
-- outside it are not reported (no data says whether anyone worked then). Marks weekends
-- (organization_settings.weekend_days) and holidays (the organization's own and `_default`).
with attendance as (
    select organization_id, attendance_date
    from {{ ref('stg_attendance') }}
    where not is_deleted
),

ranges as (
    select organization_id, min(attendance_date) as first_date, max(attendance_date) as last_date
    from attendance
    group by organization_id
),

overall as (
    select min(first_date) as first_date, max(last_date) as last_date
    from ranges
),

spine as (
    {{ date_spine('overall') }}
),

spine_days as (
    select
        calendar_date,
        {{ iso_day_of_week('calendar_date') }} as iso_day_of_week
    from spine
),

named_days as (
    select
        calendar_date,
        iso_day_of_week,
        {{ day_name('calendar_date') }} as day_name
    from spine_days
),

organization_days as (
    select
        ranges.organization_id,
        named_days.calendar_date,
        named_days.iso_day_of_week,
        named_days.day_name
    from ranges
    inner join named_days
        on named_days.calendar_date between ranges.first_date and ranges.last_date
),

holidays as (
    select organization_id, cast(date as date) as holiday_date, name
    from {{ ref('holidays') }}
),

day_holidays as (
    -- an organization's own holiday name wins over a `_default` one on the same day
    select
        organization_days.organization_id,
        organization_days.calendar_date,
        coalesce(
            max(case when holidays.organization_id = organization_days.organization_id then holidays.name end),
            max(case when holidays.organization_id = '_default' then holidays.name end)
        ) as holiday_name
    from organization_days
    inner join holidays
        on holidays.holiday_date = organization_days.calendar_date
        and holidays.organization_id in (organization_days.organization_id, '_default')
    group by organization_days.organization_id, organization_days.calendar_date
),

marked as (
    select
        organization_days.organization_id,
        organization_days.calendar_date,
        organization_days.iso_day_of_week,
        organization_days.day_name,
        {{ is_weekend_day('settings.weekend_days', 'organization_days.day_name') }} as is_weekend,
        day_holidays.holiday_name
    from organization_days
    inner join {{ ref('int_organization_settings') }} as settings
        on settings.organization_id = organization_days.organization_id
    left join day_holidays
        on day_holidays.organization_id = organization_days.organization_id
        and day_holidays.calendar_date = organization_days.calendar_date
)

select
    organization_id,
    calendar_date,
    cast({{ dbt.date_trunc('month', 'calendar_date') }} as date) as month_start,
    iso_day_of_week,
    day_name,
    is_weekend,
    holiday_name is not null as is_holiday,
    holiday_name,
    not is_weekend and holiday_name is null as is_working_day
from marked
