-- Timeline events only the synced versions of the employee record show (the source keeps
-- no effective date for them): manager_change and status_change. Dated by the day (in the
-- organization's time zone) Harvey first fetched a version with the new value, so
-- date_source = 'first_seen'. The first version of an employee is the baseline, not an event.
-- manager_change only for employees whose employment rows name no manager: where they do,
-- int_employment_events has the change with its effective date (no event twice).
with versions as (
    select
        *,
        coalesce(manager_id, manager_id_ref) as manager_key,
        coalesce(previous_manager_id, previous_manager_id_ref) as previous_manager_key
    from {{ ref('int_employee_versions') }}
    where version_sequence > 1
),

managed_by_history as (
    select distinct organization_id, employee_id
    from {{ ref('int_employments_sequenced') }}
    where has_manager_history
),

employees as (
    select organization_id, employee_id, first_name || ' ' || last_name as full_name
    from {{ ref('stg_employees') }}
),

manager_change as (
    -- the resolved manager (the source's value where it resolves to no employee) is compared
    select
        versions.organization_id,
        versions.employee_id,
        'manager_change' as event_type,
        versions.fetched_on as effective_date,
        'Manager change' as title,
        coalesce(previous_manager.full_name, versions.previous_manager_key, 'no manager') || ' → '
            || coalesce(new_manager.full_name, versions.manager_key, 'no manager') as description,
        versions.previous_manager_key as before_value,
        versions.manager_key as after_value,
        versions.version_id as payload_sha256
    from versions
    left join employees as previous_manager
        on previous_manager.organization_id = versions.organization_id
        and previous_manager.employee_id = versions.previous_manager_id
    left join employees as new_manager
        on new_manager.organization_id = versions.organization_id
        and new_manager.employee_id = versions.manager_id
    left join managed_by_history
        on managed_by_history.organization_id = versions.organization_id
        and managed_by_history.employee_id = versions.employee_id
    where versions.manager_key is distinct from versions.previous_manager_key
      and managed_by_history.employee_id is null
),

status_change as (
    select
        organization_id,
        employee_id,
        'status_change' as event_type,
        fetched_on as effective_date,
        'Status change ' || coalesce(replace(previous_employment_status, '_', ' '), 'none') || '→'
            || coalesce(replace(employment_status, '_', ' '), 'none') as title,
        case employment_status
            when 'on_leave' then 'On leave'
            when 'inactive' then 'Inactive'
            when 'terminated' then 'Terminated'
            when 'active' then 'Active again'
            else 'Status ' || coalesce(employment_status, 'none')
        end as description,
        previous_employment_status as before_value,
        employment_status as after_value,
        version_id as payload_sha256
    from versions
    where employment_status is distinct from previous_employment_status
)

select * from manager_change
union all
select * from status_change
