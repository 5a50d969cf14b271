-- What the leave not yet taken is worth, per organization, month, leave type and salary
-- currency (analysts pick the types a payout covers, annual leave as a rule): at the
-- end of each month, every live employee's available days of that year's balances as the
-- synced balance versions stood then (macros/history.sql; employees whose termination_date
-- is past are left out), times a day's pay from the
-- employment row running on the month's last day. A day's pay: the salary made hourly
-- (month x 12 / 52 weeks / hours_per_week; year / 52 / hours_per_week; hour as is) times the
-- organization's standard_hours; a contract without hours counts the standard week.
-- Months run from each organization's first balance version to the month of as_of_date.
with recursive {{ version_history('leave_balances', 'stg_leave_balances', 'source_id') }},

balances as (
    select
        history.organization_id,
        history.source_id,
        history.valid_from,
        history.valid_to,
        cast({{ canonical_field('year') }} as integer) as balance_year,
        {{ canonical_field('leave_type') }} as leave_type,
        {{ canonical_field('available', dbt.type_numeric()) }} as available_days,
        {{ canonical_field('employee_id') }} as employee_id
    from history
),

resolved as (
    select
        balances.organization_id,
        balances.source_id,
        balances.valid_from,
        balances.valid_to,
        balances.balance_year,
        balances.leave_type,
        balances.available_days,
        {{ reference_columns('balances', 'employee_id') }}
    from balances
    {{ reference_join('balances', 'employee_id', 'employees') }}
),

{{ months_to_as_of_date('resolved', 'valid_from') }},

calendar as (
    select
        months.organization_id,
        months.month_start,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'months.month_start')) }} as date) as month_end,
        -- the end of the month's last day in the organization's time zone
        {{ dbt.dateadd('month', 1, 'months.month_start') }} as local_month_close,
        settings.timezone,
        settings.standard_hours,
        settings.standard_hours * (7 - case
            when coalesce(settings.weekend_days, '') = '' then 0
            else length(settings.weekend_days) - length(replace(settings.weekend_days, ',', '')) + 1
        end) as standard_week_hours
    from months
    inner join {{ ref('int_organization_settings') }} as settings
        on settings.organization_id = months.organization_id
),

held as (
    -- the balances of the month's year as they stood when the month closed
    select
        calendar.organization_id,
        calendar.month_start,
        calendar.month_end,
        calendar.standard_hours,
        calendar.standard_week_hours,
        resolved.source_id as balance_id,
        resolved.leave_type,
        resolved.employee_id,
        resolved.available_days
    from calendar
    inner join resolved
        on resolved.organization_id = calendar.organization_id
        and resolved.balance_year = extract(year from calendar.month_start)
        and {{ local_timestamp('resolved.valid_from', 'calendar.timezone') }} < calendar.local_month_close
        and (resolved.valid_to is null
             or {{ local_timestamp('resolved.valid_to', 'calendar.timezone') }} >= calendar.local_month_close)
    inner join {{ ref('stg_employees') }} as employees
        on employees.organization_id = resolved.organization_id
        and employees.employee_id = resolved.employee_id
        and not employees.is_deleted
        and (employees.termination_date is null or employees.termination_date >= calendar.month_end)
),

employments as (
    select
        organization_id,
        employee_id,
        start_date,
        end_date,
        hours_per_week,
        salary,
        salary_period,
        currency
    from {{ ref('stg_employments') }}
    where not is_deleted and salary is not null
),

rated as (
    select
        held.organization_id,
        held.month_start,
        held.employee_id,
        held.leave_type,
        held.available_days,
        employments.currency,
        case employments.salary_period
            when 'hour' then employments.salary
            when 'month' then employments.salary * 12 / 52
                / coalesce(nullif(employments.hours_per_week, 0), held.standard_week_hours)
            when 'year' then employments.salary / 52
                / coalesce(nullif(employments.hours_per_week, 0), held.standard_week_hours)
        end * held.standard_hours as daily_rate,
        row_number() over (
            partition by held.organization_id, held.month_start, held.balance_id
            order by employments.start_date desc
        ) as newest
    from held
    inner join employments
        on employments.organization_id = held.organization_id
        and employments.employee_id = held.employee_id
        and employments.start_date <= held.month_end
        and (employments.end_date is null or employments.end_date >= held.month_end)
)

select
    organization_id,
    month_start as month,
    leave_type,
    currency,
    count(distinct employee_id) as employees,
    {{ round_numeric('sum(available_days)', 2) }} as available_days,
    {{ round_numeric('sum(available_days * daily_rate)', 2) }} as liability
from rated
where newest = 1
group by organization_id, month_start, leave_type, currency
