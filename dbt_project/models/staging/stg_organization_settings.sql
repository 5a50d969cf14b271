with source as (
    select * from {{ source('sync', 'organization_settings') }}
)

select
    organization_id,
    timezone,
    work_start,
    cast(grace_minutes as integer) as grace_minutes,
    cast(standard_hours as {{ dbt.type_numeric() }}) as standard_hours,
    cast(max_daily_overtime_hours as {{ dbt.type_numeric() }}) as max_daily_overtime_hours,
    weekend_days,
    holiday_country,
    holiday_subdivision,
    has_own_calendar,
    published_at
from source
