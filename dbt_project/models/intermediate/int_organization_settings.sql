-- The working-time rules of every organization that has data or published settings: what
-- its registry entry published (stg_organization_settings), every empty cell, and every
-- organization that published nothing, filled from the `_default` row of the
-- organization_settings seed (the seed holds only defaults: organizations are configured
-- in the registry).
with organizations as (
    select organization_id from {{ ref('stg_employees') }}
    union
    select organization_id from {{ ref('stg_employments') }}
    union
    select organization_id from {{ ref('stg_attendance') }}
    union
    select organization_id from {{ ref('stg_leave_requests') }}
    union
    select organization_id from {{ ref('stg_organization_settings') }}
),

published as (
    select * from {{ ref('stg_organization_settings') }}
),

defaults as (
    select * from {{ ref('organization_settings') }}
    where organization_id = '_default'
),

merged as (
    select
        organizations.organization_id,
        coalesce(published.timezone, defaults.timezone) as timezone,
        coalesce(published.work_start, defaults.work_start) as work_start,
        coalesce(published.grace_minutes, defaults.grace_minutes) as grace_minutes,
        coalesce(published.standard_hours, defaults.standard_hours) as standard_hours,
        coalesce(published.max_daily_overtime_hours, defaults.max_daily_overtime_hours) as max_daily_overtime_hours,
        lower(replace(coalesce(published.weekend_days, defaults.weekend_days), ' ', '')) as weekend_days,
        coalesce(published.has_own_calendar, false) as has_own_calendar,
        published.holiday_country,
        published.organization_id is not null as has_own_settings,
        published.published_at as settings_published_at
    from organizations
    left join published
        on published.organization_id = organizations.organization_id
    cross join defaults
)

select
    organization_id,
    timezone,
    work_start,
    cast(split_part(work_start, ':', 1) as integer) * 60
        + cast(split_part(work_start, ':', 2) as integer) as work_start_minute,
    cast(grace_minutes as integer) as grace_minutes,
    cast(standard_hours as {{ dbt.type_numeric() }}) as standard_hours,
    cast(max_daily_overtime_hours as {{ dbt.type_numeric() }}) as max_daily_overtime_hours,
    weekend_days,
    has_own_calendar,
    holiday_country,
    has_own_settings,
    settings_published_at
from merged
