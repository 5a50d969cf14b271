with source as (
    select * from {{ source('core', 'departments') }}
)

select
    organization_id,
    source_id,
    department_id,
    name,
    head_id,
    head_name,
    employee_count,
    location,
    {{ sync_columns() }}
from source
