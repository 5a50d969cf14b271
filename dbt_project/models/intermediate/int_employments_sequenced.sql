-- Employment (contract) rows of each employee in order, each beside the row before it,
-- so that changes between consecutive rows can be read off one row. Deleted rows are left
-- out, and so are rows whose employee resolves to no employee (they would be compared with
-- another person's rows; stg_employments' references_resolve test judges them). The manager
-- is compared by manager_key: the resolved employee, else the source's value (as
-- int_employee_versions does), so an id in one row and the number in the next is no change.
-- Order: start_date, then source_id (deterministic for equal starts).
with employments as (
    select *
    from {{ ref('stg_employments') }}
    where not is_deleted
      and employee_id is not null
)

select
    organization_id,
    source_id,
    employee_id,
    start_date,
    end_date,
    contract_type,
    hours_per_week,
    salary,
    salary_period,
    currency,
    job_title,
    department,
    coalesce(manager_id, manager_id_ref) as manager_key,
    manager_id,
    row_number() over employee_rows as employment_sequence,
    count(*) over (partition by organization_id, employee_id) as employment_count,
    lag(end_date) over employee_rows as previous_end_date,
    lag(contract_type) over employee_rows as previous_contract_type,
    lag(hours_per_week) over employee_rows as previous_hours_per_week,
    lag(salary) over employee_rows as previous_salary,
    lag(salary_period) over employee_rows as previous_salary_period,
    lag(currency) over employee_rows as previous_currency,
    lag(job_title) over employee_rows as previous_job_title,
    lag(department) over employee_rows as previous_department,
    lag(coalesce(manager_id, manager_id_ref)) over employee_rows as previous_manager_key,
    lag(manager_id) over employee_rows as previous_manager_id,
    -- whether any row of the employee names a manager: the source keeps managers in its history
    max(case when manager_id_ref is not null then 1 else 0 end)
        over (partition by organization_id, employee_id) = 1 as has_manager_history
from employments
window employee_rows as (partition by organization_id, employee_id order by start_date, source_id)
