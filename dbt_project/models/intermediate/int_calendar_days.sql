-- One row per organization and calendar day of its attendance range: from the first to
-- the last attendance date the organization has (deleted records left out). Days
-- outside it are not reported (no data says whether anyone worked then). Marks weekends
-- (int_organization_settings.weekend_days) and holidays (int_organization_holidays: the
-- organization's own calendar, or the seed's `_default` rows when it has none).
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

marked as (
    select
        organization_days.organization_id,
        organization_days.calendar_date,
        organization_days.iso_day_of_week,
        organization_days.day_name,
        {{ is_weekend_day('settings.weekend_days', 'organization_days.day_name') }} as is_weekend,
        holidays.holiday_name
    from organization_days
    inner join {{ ref('int_organization_settings') }} as settings
        on settings.organization_id = organization_days.organization_id
    left join {{ ref('int_organization_holidays') }} as holidays
        on holidays.organization_id = organization_days.organization_id
        and holidays.holiday_date = organization_days.calendar_date
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
