with source as (
    select * from {{ source('core', 'leave_balances') }}
)

select
    organization_id,
    source_id,
    employee_id,
    cast(year as integer) as balance_year,
    leave_type,
    cast(total_allocated as {{ dbt.type_numeric() }}) as total_allocated,
    cast(used as {{ dbt.type_numeric() }}) as used,
    cast(pending as {{ dbt.type_numeric() }}) as pending,
    cast(available as {{ dbt.type_numeric() }}) as available,
    {{ sync_columns() }}
from source
