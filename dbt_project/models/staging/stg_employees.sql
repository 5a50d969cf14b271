-- One row per employee record, as synced. The record's source id becomes employee_id
-- (every other entity's employee_id holds it); the HRMS's employee number becomes
-- employee_number. Deleted records stay, flagged is_deleted.
with source as (
    select * from {{ source('core', 'employees') }}
)

select
    source.organization_id,
    source.source_id as employee_id,
    source.employee_id as employee_number,
    source.first_name,
    source.last_name,
    source.email,
    source.phone,
    source.department,
    source.job_title,
    {{ reference_columns('source', 'manager_id') }},
    source.hire_date,
    source.employment_status,
    source.location,
    source.work_type,
    source.salary_band,
    cast(source.salary as {{ dbt.type_numeric() }}) as salary,
    upper(source.currency) as currency,
    source.termination_date,
    source.created_at,
    {{ sync_columns('source') }}
from source
{{ reference_join('source', 'manager_id', 'employees') }}
