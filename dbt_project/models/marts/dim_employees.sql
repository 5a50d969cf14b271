-- One row per employee as synced now (deleted records left out), with the reporting line:
-- the chain of managers above each employee, walked up through manager_id by a recursive CTE
-- (the same SQL on DuckDB and PostgreSQL). A walk stops at an employee with no manager, at a
-- manager that resolves to no live employee, or before it would visit an employee twice (a
-- cycle in the source's data: reporting_line_has_cycle).
with recursive employees as (
    select *
    from {{ ref('stg_employees') }}
    where not is_deleted
),

reporting_line (organization_id, employee_id, manager_id, depth, chain) as (
    select
        organization_id,
        employee_id,
        manager_id,
        1,
        cast('/' || employee_id || '/' || manager_id || '/' as {{ dbt.type_string() }})
    from employees
    where manager_id is not null and manager_id <> employee_id
    union all
    select
        reporting_line.organization_id,
        reporting_line.employee_id,
        manager.manager_id,
        reporting_line.depth + 1,
        cast(reporting_line.chain || manager.manager_id || '/' as {{ dbt.type_string() }})
    from reporting_line
    inner join employees as manager
        on manager.organization_id = reporting_line.organization_id
        and manager.employee_id = reporting_line.manager_id
    where manager.manager_id is not null
        and reporting_line.chain not like '%/' || manager.manager_id || '/%'
),

top_of_line as (
    -- the last step of each employee's walk: its manager_id is the top manager
    select
        organization_id,
        employee_id,
        manager_id as top_manager_id,
        depth as management_level,
        chain,
        row_number() over (partition by organization_id, employee_id order by depth desc) as from_top
    from reporting_line
)

select
    employees.organization_id,
    employees.employee_id,
    employees.employee_number,
    employees.first_name,
    employees.last_name,
    employees.email,
    employees.department,
    employees.job_title,
    employees.location,
    employees.work_type,
    employees.employment_status,
    employees.hire_date,
    employees.termination_date,
    employees.manager_id,
    employees.manager_id_ref,
    coalesce(top_of_line.management_level, 0) as management_level,
    coalesce(top_of_line.top_manager_id, employees.employee_id) as top_manager_id,
    -- the managers above the employee, nearest first: /emp-2/emp-7/
    substr(top_of_line.chain, length(employees.employee_id) + 2) as manager_chain,
    coalesce(top.manager_id is not null and top.manager_id <> top.employee_id
             and top_of_line.chain like '%/' || top.manager_id || '/%', false) as reporting_line_has_cycle,
    employees.source_updated_at,
    employees.synced_at
from employees
left join top_of_line
    on top_of_line.organization_id = employees.organization_id
    and top_of_line.employee_id = employees.employee_id
    and top_of_line.from_top = 1
left join employees as top
    on top.organization_id = top_of_line.organization_id
    and top.employee_id = top_of_line.top_manager_id
