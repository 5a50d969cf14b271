-- Employment (contract) rows of each employee in order, each beside the row before it,
-- so that changes between consecutive rows can be read off one row. Deleted rows are
-- left out, and so are rows whose employee resolves to no employee (they would be compared
-- with another person's rows; stg_employments' references_resolve test judges them).
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
    row_number() over employee_rows as employment_sequence,
    count(*) over (partition by organization_id, employee_id) as employment_count,
    lag(end_date) over employee_rows as previous_end_date,
    lag(contract_type) over employee_rows as previous_contract_type,
    lag(hours_per_week) over employee_rows as previous_hours_per_week,
    lag(salary) over employee_rows as previous_salary,
    lag(salary_period) over employee_rows as previous_salary_period,
    lag(currency) over employee_rows as previous_currency,
    lag(job_title) over employee_rows as previous_job_title,
    lag(department) over employee_rows as previous_department
from employments
window employee_rows as (partition by organization_id, employee_id order by start_date, source_id)
