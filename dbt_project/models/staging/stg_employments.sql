-- One row per employment (contract) period of an employee, as synced.
with source as (
    select * from {{ source('core', 'employments') }}
)

select
    source.organization_id,
    source.source_id,
    {{ reference_columns('source', 'employee_id') }},
    source.start_date,
    source.end_date,
    source.contract_type,
    cast(source.hours_per_week as {{ dbt.type_numeric() }}) as hours_per_week,
    cast(source.salary as {{ dbt.type_numeric() }}) as salary,
    source.salary_period,
    upper(source.currency) as currency,
    source.job_title,
    source.department,
    {{ sync_columns('source') }}
from source
{{ reference_join('source', 'employee_id', 'employees') }}
