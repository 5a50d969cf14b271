with source as (
    select * from {{ source('core', 'leave_requests') }}
)

select
    organization_id,
    source_id,
    leave_request_id,
    employee_id,
    employee_name,
    leave_type,
    start_date,
    end_date,
    cast(total_days as {{ dbt.type_numeric() }}) as total_days,
    status,
    applied_date,
    approved_by,
    approved_at,
    reason,
    {{ sync_columns() }}
from source
