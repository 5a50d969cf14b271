-- The leave rules of every organization in int_organization_settings, one row per leave
-- type: the `_default` rows of the leave_policies seed, the organization's published policy
-- of a type (its registry entry's leave_policy) replacing the `_default` row of that type
-- (empty cells filled from it), plus leave types only the organization has.
with organizations as (
    select organization_id from {{ ref('int_organization_settings') }}
),

defaults as (
    select * from {{ ref('leave_policies') }}
    where organization_id = '_default'
),

published as (
    select * from {{ ref('stg_organization_leave_policies') }}
),

leave_types as (
    select organizations.organization_id, defaults.leave_type
    from organizations
    cross join defaults
    union
    select organizations.organization_id, published.leave_type
    from organizations
    inner join published
        on published.organization_id = organizations.organization_id
)

select
    leave_types.organization_id,
    leave_types.leave_type,
    cast(coalesce(own.annual_allocation_days, defaults.annual_allocation_days)
         as {{ dbt.type_numeric() }}) as annual_allocation_days,
    cast(coalesce(own.min_notice_days, defaults.min_notice_days) as integer) as min_notice_days,
    own.organization_id is not null as has_own_policy
from leave_types
left join published as own
    on own.organization_id = leave_types.organization_id
    and own.leave_type = leave_types.leave_type
left join defaults
    on defaults.leave_type = leave_types.leave_type
