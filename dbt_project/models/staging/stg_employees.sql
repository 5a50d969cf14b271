-- One row per employee record, as synced. The record's source id becomes employee_id
-- (every other entity's employee_id holds it); the HRMS's employee number becomes
-- employee_number. Deleted records stay, flagged is_deleted.
with source as (
    select * from {{ source('core', 'employees') }}
)

select
    organization_id,
    source_id as employee_id,
    employee_id as employee_number,
    first_name,
    last_name,
    email,
    phone,
    department,
    job_title,
    manager_id,
    hire_date,
    employment_status,
    location,
    work_type,
    salary_band,
    cast(salary as {{ dbt.type_numeric() }}) as salary,
    upper(currency) as currency,
    termination_date,
    created_at,
    {{ sync_columns() }}
from source
