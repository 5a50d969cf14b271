-- One row per attendance record (normally one per employee and day). `date` is renamed
-- attendance_date; check-in/out stay timestamps with time zone (local time is derived
-- downstream with the organization's time zone).
with source as (
    select * from {{ source('core', 'attendance') }}
)

select
    organization_id,
    source_id,
    employee_id,
    date as attendance_date,
    check_in_time as check_in_at,
    check_in_location,
    check_in_device,
    check_out_time as check_out_at,
    check_out_location,
    check_out_device,
    cast(worked_hours as {{ dbt.type_numeric() }}) as source_worked_hours,
    status as source_status,
    notes,
    created_at,
    {{ sync_columns() }}
from source
