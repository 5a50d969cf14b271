-- One row per employment (contract) period of an employee, as synced, with whether it holds
-- today (is_current) or is dated ahead (is_scheduled). Today is the organization's
-- (macros/as_of_date.sql), computed when the view is read: a row dated ahead becomes current
-- when its day arrives, without a re-sync. Its time zone is read as int_organization_settings
-- reads it (published, else the seed's `_default`); that model cannot be read here, as it
-- lists the organizations of this one.
with source as (
    select * from {{ source('core', 'employments') }}
),

default_settings as (
    select timezone from {{ ref('organization_settings') }}
    where organization_id = '_default'
),

dated as (
    select
        source.*,
        {{ as_of_date('coalesce(published.timezone, default_settings.timezone)') }} as as_of_date
    from source
    left join {{ ref('stg_organization_settings') }} as published
        on published.organization_id = source.organization_id
    cross join default_settings
)

select
    dated.organization_id,
    dated.source_id,
    {{ reference_columns('dated', 'employee_id') }},
    dated.start_date,
    dated.end_date,
    dated.contract_type,
    cast(dated.hours_per_week as {{ dbt.type_numeric() }}) as hours_per_week,
    cast(dated.salary as {{ dbt.type_numeric() }}) as salary,
    dated.salary_period,
    upper(dated.currency) as currency,
    dated.job_title,
    dated.department,
    {{ reference_columns('dated', 'manager_id') }},
    dated.start_date > dated.as_of_date as is_scheduled,
    not dated.is_deleted
    and dated.start_date <= dated.as_of_date
    and (dated.end_date is null or dated.end_date >= dated.as_of_date) as is_current,
    {{ sync_columns('dated') }}
from dated
{{ reference_join('dated', 'employee_id', 'employees') }}
{{ reference_join('dated', 'manager_id', 'employees') }}
