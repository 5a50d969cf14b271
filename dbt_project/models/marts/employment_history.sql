-- Effective-dated history of every employment (contract) record (macros/history.sql).
with {{ version_history('employments', 'stg_employments', 'source_id') }},

parsed as (
    select
        history.organization_id,
        history.source_id,
        history.version_number,
        history.valid_from,
        history.valid_to,
        history.is_current,
        {{ canonical_field('employee_id') }} as employee_id,
        {{ canonical_field('start_date', 'date') }} as start_date,
        {{ canonical_field('end_date', 'date') }} as end_date,
        {{ canonical_field('contract_type') }} as contract_type,
        {{ canonical_field('hours_per_week', dbt.type_numeric()) }} as hours_per_week,
        {{ canonical_field('salary', dbt.type_numeric()) }} as salary,
        {{ canonical_field('salary_period') }} as salary_period,
        upper({{ canonical_field('currency') }}) as currency,
        {{ canonical_field('job_title') }} as job_title,
        {{ canonical_field('department') }} as department,
        history.payload_sha256,
        history.fetched_at
    from history
)

select
    parsed.organization_id,
    parsed.source_id,
    parsed.version_number,
    parsed.valid_from,
    parsed.valid_to,
    parsed.is_current,
    {{ reference_columns('parsed', 'employee_id') }},
    parsed.start_date,
    parsed.end_date,
    parsed.contract_type,
    parsed.hours_per_week,
    parsed.salary,
    parsed.salary_period,
    parsed.currency,
    parsed.job_title,
    parsed.department,
    parsed.payload_sha256,
    parsed.fetched_at
from parsed
{{ reference_join('parsed', 'employee_id', 'employees') }}
