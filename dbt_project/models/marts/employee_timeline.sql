-- One row per event in an employee's working life, numbered in order (event_sequence).
-- Rebuilt from the synced history every time: the same history gives the same events
-- (dated-ahead events such as a raise entered ahead, a fixed-term contract's end or approved
-- future leave are included). Only is_scheduled depends on the day: the event is dated after
-- the organization's today (macros/as_of_date.sql; the var as_of_date pins it) as of the build,
-- as stg_employments.is_scheduled says of the employment row it comes from.
with employees as (
    select *
    from {{ ref('stg_employees') }}
    where not is_deleted
),

first_employments as (
    select organization_id, employee_id, job_title, department
    from {{ ref('int_employments_sequenced') }}
    where employment_sequence = 1
),

hired as (
    select
        employees.organization_id,
        employees.employee_id,
        'hired' as event_type,
        employees.hire_date as effective_date,
        'effective_date' as date_source,
        'Hired' as title,
        concat_ws(', ', 'Joined as ' || first_employments.job_title, first_employments.department)
            as description,
        cast(null as {{ dbt.type_string() }}) as before_value,
        cast(employees.hire_date as {{ dbt.type_string() }}) as after_value,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_numeric() }}) as percentage,
        cast(null as {{ dbt.type_string() }}) as currency,
        'employees' as source_entity,
        employees.employee_id as source_id
    from employees
    left join first_employments
        on first_employments.organization_id = employees.organization_id
        and first_employments.employee_id = employees.employee_id
    where employees.hire_date is not null
),

terminated as (
    select
        organization_id,
        employee_id,
        'terminated' as event_type,
        termination_date as effective_date,
        'effective_date' as date_source,
        'Terminated' as title,
        'Last working day ' || cast(termination_date as {{ dbt.type_string() }}) as description,
        cast(null as {{ dbt.type_string() }}) as before_value,
        cast(termination_date as {{ dbt.type_string() }}) as after_value,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_numeric() }}) as percentage,
        cast(null as {{ dbt.type_string() }}) as currency,
        'employees' as source_entity,
        employee_id as source_id
    from employees
    where termination_date is not null
),

leave_taken as (
    select
        organization_id,
        employee_id,
        'leave_taken' as event_type,
        start_date as effective_date,
        'effective_date' as date_source,
        upper(substr(leave_type, 1, 1)) || substr(leave_type, 2) || ' leave' as title,
        cast(start_date as {{ dbt.type_string() }}) || ' → ' || cast(end_date as {{ dbt.type_string() }})
            || coalesce(' (' || {{ number_text('total_days') }}
                        || case when total_days = 1 then ' day)' else ' days)' end, '') as description,
        cast(null as {{ dbt.type_string() }}) as before_value,
        leave_type as after_value,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_numeric() }}) as percentage,
        cast(null as {{ dbt.type_string() }}) as currency,
        'leave_requests' as source_entity,
        source_id
    from {{ ref('stg_leave_requests') }}
    where status = 'approved'
      and not is_deleted
),

employment_events as (
    select
        organization_id,
        employee_id,
        event_type,
        effective_date,
        'effective_date' as date_source,
        title,
        description,
        before_value,
        after_value,
        amount,
        percentage,
        currency,
        'employments' as source_entity,
        source_id
    from {{ ref('int_employment_events') }}
),

version_events as (
    select
        organization_id,
        employee_id,
        event_type,
        effective_date,
        'first_seen' as date_source,
        title,
        description,
        before_value,
        after_value,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_numeric() }}) as percentage,
        cast(null as {{ dbt.type_string() }}) as currency,
        'payload_versions' as source_entity,
        payload_sha256 as source_id
    from {{ ref('int_employee_version_events') }}
),

events as (
    select * from hired
    union all select * from employment_events
    union all select * from version_events
    union all select * from leave_taken
    union all select * from terminated
),

ranked as (
    -- the order of events on one day
    select
        events.*,
        case events.event_type
            when 'hired' then 1
            when 'contract_started' then 2
            when 'contract_renewed' then 3
            when 'contract_type_change' then 4
            when 'job_title_change' then 5
            when 'department_change' then 6
            when 'salary_increase' then 7
            when 'salary_decrease' then 7
            when 'salary_change' then 7
            when 'hours_change' then 8
            when 'manager_change' then 9
            when 'status_change' then 10
            when 'leave_taken' then 11
            when 'contract_ended' then 12
            when 'terminated' then 13
        end as event_type_rank
    from events
)

select
    ranked.organization_id || ':' || ranked.employee_id || ':' || ranked.event_type || ':' || ranked.source_id
        as event_id,
    ranked.organization_id,
    ranked.employee_id,
    employees.employee_number,
    row_number() over (
        partition by ranked.organization_id, ranked.employee_id
        order by ranked.effective_date, ranked.event_type_rank, ranked.source_id
    ) as event_sequence,
    ranked.event_type,
    ranked.effective_date,
    ranked.date_source,
    ranked.title,
    ranked.description,
    ranked.before_value,
    ranked.after_value,
    cast(ranked.amount as {{ dbt.type_numeric() }}) as amount,
    cast(ranked.percentage as {{ dbt.type_numeric() }}) as percentage,
    ranked.currency,
    ranked.source_entity,
    ranked.source_id,
    ranked.effective_date > {{ as_of_date('settings.timezone') }} as is_scheduled
from ranked
inner join employees
    on employees.organization_id = ranked.organization_id
    and employees.employee_id = ranked.employee_id
inner join {{ ref('int_organization_settings') }} as settings
    on settings.organization_id = ranked.organization_id
