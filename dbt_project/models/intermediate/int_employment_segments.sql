-- Who is employed when, in which department: one row per employment row of a live employee
-- (an employee without employment rows: one row from hire_date to termination_date), with
-- last_day the row's last day (inclusive; null while it runs). A row ends where the next
-- row of the employee starts (the HRMS versions a contract by a new row) and at the
-- employee's termination_date when it started before it (a rehire's later rows are not cut
-- by a stale termination date). Rows that follow each other without a gap form a spell
-- (hire .. termination); a gap starts a new spell (a rehire).
with employees as (
    select *
    from {{ ref('stg_employees') }}
    where not is_deleted
),

employments as (
    select
        employments.organization_id,
        employments.employee_id,
        employments.start_date,
        employments.end_date,
        employments.hours_per_week,
        coalesce(employments.department, employees.department) as department,
        employees.termination_date
    from {{ ref('stg_employments') }} as employments
    inner join employees
        on employees.organization_id = employments.organization_id
        and employees.employee_id = employments.employee_id
    where not employments.is_deleted and employments.start_date is not null
),

without_employments as (
    select
        employees.organization_id,
        employees.employee_id,
        employees.hire_date as start_date,
        employees.termination_date as end_date,
        cast(null as {{ dbt.type_numeric() }}) as hours_per_week,
        employees.department,
        employees.termination_date
    from employees
    where employees.hire_date is not null
        and not exists (
            select 1 from employments
            where employments.organization_id = employees.organization_id
                and employments.employee_id = employees.employee_id
        )
),

all_rows as (
    select * from employments
    union all
    select * from without_employments
),

clipped as (
    select
        organization_id,
        employee_id,
        start_date,
        hours_per_week,
        department,
        case
            when termination_date is not null and start_date <= termination_date
                then least(coalesce(end_date, termination_date), termination_date)
            else end_date
        end as last_day
    from all_rows
),

ordered as (
    select
        *,
        lead(start_date) over (
            partition by organization_id, employee_id order by start_date, last_day
        ) as next_start_date
    from clipped
),

bounded as (
    select
        organization_id,
        employee_id,
        start_date,
        hours_per_week,
        department,
        case
            when next_start_date is not null and (last_day is null or last_day >= next_start_date)
                then cast({{ dbt.dateadd('day', -1, 'next_start_date') }} as date)
            else last_day
        end as last_day
    from ordered
),

kept as (
    select
        *,
        lag(last_day) over employee_rows as previous_last_day,
        lag(department) over employee_rows as previous_department,
        lead(start_date) over employee_rows as next_start_date
    from bounded
    where last_day is null or last_day >= start_date
    window employee_rows as (partition by organization_id, employee_id order by start_date)
),

flagged as (
    select
        *,
        previous_last_day is null
            or previous_last_day < cast({{ dbt.dateadd('day', -1, 'start_date') }} as date) as starts_spell,
        last_day is not null
            and (next_start_date is null or next_start_date > cast({{ dbt.dateadd('day', 1, 'last_day') }} as date))
            as ends_spell
    from kept
),

spells as (
    select
        *,
        sum(case when starts_spell then 1 else 0 end) over (
            partition by organization_id, employee_id order by start_date
            rows between unbounded preceding and current row
        ) as spell_number
    from flagged
)

select
    organization_id,
    employee_id,
    spell_number,
    min(start_date) over (partition by organization_id, employee_id, spell_number) as spell_start_date,
    start_date,
    last_day,
    department,
    case when not starts_spell then previous_department end as previous_department,
    hours_per_week,
    starts_spell,
    ends_spell,
    not starts_spell and (department is distinct from previous_department) as is_transfer
from spells
