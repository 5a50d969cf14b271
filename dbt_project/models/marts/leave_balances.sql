-- Per organization, employee, leave type and calendar year: the allocation, working days
-- used (approved) and pending, what is left, and the balance the HRMS reports
-- (stg_leave_balances), where synced, with balance_mismatch when they differ.
--   rows      every (employee, leave type, year) with approved or pending leave days or a
--             reported balance, of an employee employed in that year (hired by Dec 31, not
--             terminated before Jan 1); employees and requests deleted at the source left out
--   allocation  the HRMS's own total_allocated for the employee, type and year where it
--             reports one (it knows pro-rating, carry-over, seniority); else the leave policy
--             (int_leave_policies: the registry's, else the seed's `_default`)
--   days      working days only (int_leave_request_days: weekends and holidays of the
--             organization do not count); a request over New Year counts in both years
--   available allocation - used - pending (null when there is no allocation)
--   exceeded_on  the leave day (approved or pending, in date order) on which the days
--             counted in the year first went above the allocation
with request_days as (
    select *
    from {{ ref('int_leave_request_days') }}
    where is_working_day
),

reported as (
    select
        organization_id,
        employee_id,
        leave_type,
        balance_year,
        total_allocated,
        used,
        pending,
        available
    from {{ ref('stg_leave_balances') }}
    where not is_deleted
),

keys as (
    -- the (employee, leave type, year) of a counted leave day or a reported balance, of an
    -- employee employed in that year: a leaver has no balance for the years after leaving (nor
    -- a new hire before joining). Each side reads its model (the same rows as request_days and
    -- reported) and meets the employees before the union, so that PostgreSQL estimates the
    -- rows from the tables' statistics: it has none for a CTE it materializes (read more than
    -- once) nor for a union, and took the employment join after the union for 0.2 % of its
    -- rows (1,013 for 430k at 100,000 employees), then joined reported on organization and
    -- leave type alone (a merge join, quadratic: over 394 s at 100,000 employees, not 12 s)
    select days.organization_id, days.employee_id, days.leave_type, days.leave_year as balance_year
    from {{ ref('int_leave_request_days') }} as days
    inner join {{ ref('stg_employees') }} as employees
        on employees.organization_id = days.organization_id
        and employees.employee_id = days.employee_id
    where days.is_working_day
      and not employees.is_deleted
      and {{ employed_in_year('employees', 'days.leave_year') }}
    union
    select balances.organization_id, balances.employee_id, balances.leave_type, balances.balance_year
    from {{ ref('stg_leave_balances') }} as balances
    inner join {{ ref('stg_employees') }} as employees
        on employees.organization_id = balances.organization_id
        and employees.employee_id = balances.employee_id
    where not balances.is_deleted
      and not employees.is_deleted
      and {{ employed_in_year('employees', 'balances.balance_year') }}
),

allocations as (
    select
        keys.organization_id,
        keys.employee_id,
        keys.leave_type,
        keys.balance_year,
        policies.annual_allocation_days as policy_allocation_days,
        reported.total_allocated as reported_allocated,
        coalesce(reported.total_allocated, policies.annual_allocation_days) as allocation_days,
        case
            when reported.total_allocated is not null then 'hrms'
            when policies.annual_allocation_days is not null then 'policy'
        end as allocation_source,
        reported.balance_year is not null as has_reported_balance,
        reported.used as reported_used,
        reported.pending as reported_pending,
        reported.available as reported_available
    from keys
    left join {{ ref('int_leave_policies') }} as policies
        on policies.organization_id = keys.organization_id
        and policies.leave_type = keys.leave_type
    left join reported
        on reported.organization_id = keys.organization_id
        and reported.employee_id = keys.employee_id
        and reported.leave_type = keys.leave_type
        and reported.balance_year = keys.balance_year
),

counted as (
    select
        organization_id,
        employee_id,
        leave_type,
        leave_year as balance_year,
        sum(case when status = 'approved' then 1 else 0 end) as used_days,
        sum(case when status = 'pending' then 1 else 0 end) as pending_days
    from request_days
    group by organization_id, employee_id, leave_type, leave_year
),

running as (
    -- each counted day numbered in date order (approved before pending on one day)
    select
        request_days.organization_id,
        request_days.employee_id,
        request_days.leave_type,
        request_days.leave_year,
        request_days.leave_date,
        row_number() over (
            partition by request_days.organization_id, request_days.employee_id,
                request_days.leave_type, request_days.leave_year
            order by request_days.leave_date, request_days.status, request_days.leave_request_id
        ) as days_so_far
    from request_days
),

exceeded as (
    select
        running.organization_id,
        running.employee_id,
        running.leave_type,
        running.leave_year as balance_year,
        min(running.leave_date) as exceeded_on
    from running
    inner join allocations
        on allocations.organization_id = running.organization_id
        and allocations.employee_id = running.employee_id
        and allocations.leave_type = running.leave_type
        and allocations.balance_year = running.leave_year
    where running.days_so_far > allocations.allocation_days
    group by running.organization_id, running.employee_id, running.leave_type, running.leave_year
),

balances as (
    select
        allocations.organization_id,
        allocations.employee_id,
        allocations.leave_type,
        allocations.balance_year,
        allocations.allocation_days,
        allocations.allocation_source,
        allocations.policy_allocation_days,
        cast(coalesce(counted.used_days, 0) as {{ dbt.type_numeric() }}) as used_days,
        cast(coalesce(counted.pending_days, 0) as {{ dbt.type_numeric() }}) as pending_days,
        exceeded.exceeded_on,
        allocations.has_reported_balance,
        allocations.reported_allocated,
        allocations.reported_used,
        allocations.reported_pending,
        allocations.reported_available
    from allocations
    left join counted
        on counted.organization_id = allocations.organization_id
        and counted.employee_id = allocations.employee_id
        and counted.leave_type = allocations.leave_type
        and counted.balance_year = allocations.balance_year
    left join exceeded
        on exceeded.organization_id = allocations.organization_id
        and exceeded.employee_id = allocations.employee_id
        and exceeded.leave_type = allocations.leave_type
        and exceeded.balance_year = allocations.balance_year
),

computed as (
    select
        *,
        allocation_days - used_days - pending_days as available_days
    from balances
)

select
    organization_id,
    employee_id,
    leave_type,
    balance_year,
    allocation_days,
    allocation_source,
    policy_allocation_days,
    used_days,
    pending_days,
    available_days,
    exceeded_on,
    has_reported_balance,
    reported_allocated,
    reported_used,
    reported_pending,
    reported_available,
    coalesce(
        has_reported_balance
        and (
            reported_used is null
            or reported_used <> used_days
            or coalesce(reported_available <> available_days,
                        (reported_available is null) <> (available_days is null))
        ),
        false
    ) as balance_mismatch
from computed
