-- The periods in which an employee's employment_status was what it was, as the synced
-- versions of the employee record show it: from the day (organization's time zone) Harvey
-- first fetched a version with that status, to the day before the next status was first
-- seen (valid_to null: still so). Before an employee's first version nothing is known: no
-- period. When the status changed more than once on one day, the last status of the day
-- holds from that day.
with versions as (
    select
        organization_id,
        employee_id,
        fetched_on,
        employment_status,
        version_sequence,
        previous_employment_status
    from {{ ref('int_employee_versions') }}
),

changes as (
    select
        *,
        row_number() over (
            partition by organization_id, employee_id, fetched_on order by version_sequence desc
        ) as latest_of_day
    from versions
    where version_sequence = 1
       or employment_status is distinct from previous_employment_status
),

periods as (
    select
        organization_id,
        employee_id,
        employment_status,
        fetched_on as valid_from,
        lead(fetched_on) over (
            partition by organization_id, employee_id order by fetched_on
        ) as next_valid_from
    from changes
    where latest_of_day = 1
)

select
    organization_id,
    employee_id,
    employment_status,
    valid_from,
    cast({{ dbt.dateadd('day', -1, 'next_valid_from') }} as date) as valid_to
from periods
