with source as (
    select * from {{ source('core', 'leave_requests') }}
)

select
    source.organization_id,
    source.source_id,
    source.leave_request_id,
    {{ reference_columns('source', 'employee_id') }},
    source.employee_name,
    source.leave_type,
    source.start_date,
    source.end_date,
    cast(source.total_days as {{ dbt.type_numeric() }}) as total_days,
    source.status,
    source.applied_date,
    {{ reference_columns('source', 'approved_by') }},
    source.approved_at,
    source.reason,
    {{ sync_columns('source') }}
from source
{{ reference_join('source', 'employee_id', 'employees') }}
{{ reference_join('source', 'approved_by', 'employees') }}
