-- The non-working days of every organization in int_organization_settings: an organization
-- with a calendar of its own (a country or explicit dates in its registry entry) keeps
-- exactly its published holidays; any other gets the `_default` rows of the holidays seed.
-- The seed's rows are generic examples (New Year, Christmas), which a country calendar
-- either has already or, for that country, rightly lacks.
with organizations as (
    select organization_id, has_own_calendar
    from {{ ref('int_organization_settings') }}
),

defaults as (
    select cast(date as date) as holiday_date, name as holiday_name
    from {{ ref('holidays') }}
    where organization_id = '_default'
)

select
    organizations.organization_id,
    published.holiday_date,
    published.holiday_name,
    published.holiday_source
from organizations
inner join {{ ref('stg_organization_holidays') }} as published
    on published.organization_id = organizations.organization_id
where organizations.has_own_calendar

union all

select
    organizations.organization_id,
    defaults.holiday_date,
    defaults.holiday_name,
    'default' as holiday_source
from organizations
cross join defaults
where not organizations.has_own_calendar
