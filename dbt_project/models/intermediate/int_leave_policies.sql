-- The leave rules of every organization that has data (int_organization_settings), one
-- row per leave type: the `_default` rows of the leave_policies seed, an organization's own
-- row replacing (and filling its empty cells from) the `_default` row of the same type,
-- plus leave types only the organization has.
with organizations as (
    select organization_id from {{ ref('int_organization_settings') }}
),

policies as (
    select * from {{ ref('leave_policies') }}
),

leave_types as (
    select organizations.organization_id, policies.leave_type
    from organizations
    inner join policies
        on policies.organization_id in (organizations.organization_id, '_default')
    group by organizations.organization_id, policies.leave_type
)

select
    leave_types.organization_id,
    leave_types.leave_type,
    cast(coalesce(own.annual_allocation_days, defaults.annual_allocation_days)
         as {{ dbt.type_numeric() }}) as annual_allocation_days,
    cast(coalesce(own.min_notice_days, defaults.min_notice_days) as integer) as min_notice_days,
    own.organization_id is not null as has_own_policy
from leave_types
left join policies as own
    on own.organization_id = leave_types.organization_id
    and own.leave_type = leave_types.leave_type
left join policies as defaults
    on defaults.organization_id = '_default'
    and defaults.leave_type = leave_types.leave_type
