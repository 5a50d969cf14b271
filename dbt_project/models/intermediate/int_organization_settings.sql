-- The working-time rules of every organization that has data: its own row of the
-- organization_settings seed, every empty cell (or a missing row) filled from `_default`.
with organizations as (
    select organization_id from {{ ref('stg_employees') }}
    union
    select organization_id from {{ ref('stg_employments') }}
    union
    select organization_id from {{ ref('stg_attendance') }}
    union
    select organization_id from {{ ref('stg_leave_requests') }}
),

settings as (
    select * from {{ ref('organization_settings') }}
),

defaults as (
    select * from settings where organization_id = '_default'
),

merged as (
    select
        organizations.organization_id,
        coalesce(own.timezone, defaults.timezone) as timezone,
        coalesce(own.work_start, defaults.work_start) as work_start,
        coalesce(own.grace_minutes, defaults.grace_minutes) as grace_minutes,
        coalesce(own.standard_hours, defaults.standard_hours) as standard_hours,
        coalesce(own.max_daily_overtime_hours, defaults.max_daily_overtime_hours) as max_daily_overtime_hours,
        lower(replace(coalesce(own.weekend_days, defaults.weekend_days), ' ', '')) as weekend_days,
        own.organization_id is not null as has_own_settings
    from organizations
    left join settings as own
        on own.organization_id = organizations.organization_id
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
    has_own_settings
from merged
