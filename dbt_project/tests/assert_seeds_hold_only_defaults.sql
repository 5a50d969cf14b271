-- The seeds hold the defaults only (organization_id `_default`); an organization's own
-- settings, holidays and leave policy belong in its registry entry (harvey orgs set), from
-- which every sync publishes them. A row for an organization here would be ignored: fail.
select 'organization_settings' as seed, organization_id from {{ ref('organization_settings') }}
where organization_id <> '_default'
union all
select 'holidays' as seed, organization_id from {{ ref('holidays') }}
where organization_id <> '_default'
union all
select 'leave_policies' as seed, organization_id from {{ ref('leave_policies') }}
where organization_id <> '_default'
