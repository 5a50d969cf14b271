-- One row per attendance record (normally one per employee and day). `date` is renamed
-- attendance_date; check-in/out stay timestamps with time zone (local time is derived
-- downstream with the organization's time zone).
with source as (
    select * from {{ source('core', 'attendance') }}
)

select
    source.organization_id,
    source.source_id,
    {{ reference_columns('source', 'employee_id') }},
    source.date as attendance_date,
    source.check_in_time as check_in_at,
    source.check_in_location,
    source.check_in_device,
    source.check_out_time as check_out_at,
    source.check_out_location,
    source.check_out_device,
    cast(source.worked_hours as {{ dbt.type_numeric() }}) as source_worked_hours,
    source.status as source_status,
    source.notes,
    source.created_at,
    {{ sync_columns('source') }}
from source
{{ reference_join('source', 'employee_id', 'employees') }}
