-- One row per employment (contract) period of an employee, as synced.
with source as (
    select * from {{ source('core', 'employments') }}
)

select
    organization_id,
    source_id,
    employee_id,
    start_date,
    end_date,
    contract_type,
    cast(hours_per_week as {{ dbt.type_numeric() }}) as hours_per_week,
    cast(salary as {{ dbt.type_numeric() }}) as salary,
    salary_period,
    upper(currency) as currency,
    job_title,
    department,
    {{ sync_columns() }}
from source
