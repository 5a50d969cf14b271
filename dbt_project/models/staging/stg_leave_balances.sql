with source as (
    select * from {{ source('core', 'leave_balances') }}
)

select
    source.organization_id,
    source.source_id,
    {{ reference_columns('source', 'employee_id') }},
    cast(source.year as integer) as balance_year,
    source.leave_type,
    cast(source.total_allocated as {{ dbt.type_numeric() }}) as total_allocated,
    cast(source.used as {{ dbt.type_numeric() }}) as used,
    cast(source.pending as {{ dbt.type_numeric() }}) as pending,
    cast(source.available as {{ dbt.type_numeric() }}) as available,
    {{ sync_columns('source') }}
from source
{{ reference_join('source', 'employee_id', 'employees') }}
