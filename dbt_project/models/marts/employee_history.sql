-- Effective-dated history of every employee record (macros/history.sql): one row per
-- synced version that changed the canonical record, valid from valid_from until valid_to.
with {{ version_history('employees', 'stg_employees', 'employee_id') }},

parsed as (
    select
        history.organization_id,
        history.source_id as employee_id,
        history.version_number,
        history.valid_from,
        history.valid_to,
        history.is_current,
        {{ canonical_field('employee_id') }} as employee_number,
        {{ canonical_field('first_name') }} as first_name,
        {{ canonical_field('last_name') }} as last_name,
        {{ canonical_field('department') }} as department,
        {{ canonical_field('job_title') }} as job_title,
        {{ canonical_field('manager_id') }} as manager_id,
        {{ canonical_field('employment_status') }} as employment_status,
        {{ canonical_field('location') }} as location,
        {{ canonical_field('work_type') }} as work_type,
        {{ canonical_field('hire_date', 'date') }} as hire_date,
        {{ canonical_field('termination_date', 'date') }} as termination_date,
        history.payload_sha256,
        history.fetched_at
    from history
)

select
    parsed.organization_id,
    parsed.employee_id,
    parsed.version_number,
    parsed.valid_from,
    parsed.valid_to,
    parsed.is_current,
    parsed.employee_number,
    parsed.first_name,
    parsed.last_name,
    parsed.department,
    parsed.job_title,
    {{ reference_columns('parsed', 'manager_id') }},
    parsed.employment_status,
    parsed.location,
    parsed.work_type,
    parsed.hire_date,
    parsed.termination_date,
    parsed.payload_sha256,
    parsed.fetched_at
from parsed
{{ reference_join('parsed', 'manager_id', 'employees') }}
