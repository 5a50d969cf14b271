-- One row per department as synced now (deleted records left out), with its head and how
-- many live employees the employee records place in it now (employees name their
-- department, so they are matched by name within the organization).
with departments as (
    select *
    from {{ ref('stg_departments') }}
    where not is_deleted
),

members as (
    select
        organization_id,
        department,
        count(*) as employees,
        sum(case when employment_status in ('active', 'on_leave') then 1 else 0 end) as active_employees
    from {{ ref('dim_employees') }}
    where department is not null
    group by organization_id, department
)

select
    departments.organization_id,
    departments.source_id,
    departments.department_id,
    departments.name,
    departments.head_id,
    departments.head_id_ref,
    coalesce(head.first_name || ' ' || head.last_name, departments.head_name) as head_name,
    head.top_manager_id as head_top_manager_id,
    departments.location,
    departments.employee_count as reported_employee_count,
    coalesce(members.employees, 0) as employees,
    coalesce(members.active_employees, 0) as active_employees,
    departments.source_updated_at,
    departments.synced_at
from departments
left join {{ ref('dim_employees') }} as head
    on head.organization_id = departments.organization_id
    and head.employee_id = departments.head_id
left join members
    on members.organization_id = departments.organization_id
    and members.department = departments.name
