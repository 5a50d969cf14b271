-- Every synced version of every employee record, in order, with the fields the timeline
-- follows (manager_id, employment_status) read from its canonical record and the version before.
-- Order: the source's updated_at, then fetched_at (a payload without updated_at sorts by
-- when it was fetched). fetched_on is the fetch date in the organization's time zone.
-- The canonical record has records.py's field names whatever the vendor (the adapter mapped
-- it). Its manager_id resolves through core.record_keys like staging's references, so a
-- server that sends an id in one version and the employee number in the next shows no change.
with versions as (
    select *
    from {{ ref('stg_payload_versions') }}
    where entity = 'employees'
),

parsed as (
    select
        versions.organization_id,
        versions.source_id as employee_id,
        versions.payload_sha256,
        versions.source_updated_at,
        versions.fetched_at,
        cast({{ local_timestamp('versions.fetched_at', 'settings.timezone') }} as date) as fetched_on,
        {{ json_text('versions.canonical', 'manager_id') }} as manager_id,
        {{ json_text('versions.canonical', 'employment_status') }} as employment_status
    from versions
    inner join {{ ref('int_organization_settings') }} as settings
        on settings.organization_id = versions.organization_id
),

resolved as (
    select
        parsed.organization_id,
        parsed.employee_id,
        parsed.payload_sha256,
        parsed.source_updated_at,
        parsed.fetched_at,
        parsed.fetched_on,
        {{ reference_columns('parsed', 'manager_id') }},
        parsed.employment_status
    from parsed
    {{ reference_join('parsed', 'manager_id', 'employees') }}
)

select
    organization_id,
    employee_id,
    payload_sha256,
    source_updated_at,
    fetched_at,
    fetched_on,
    manager_id,
    manager_id_ref,
    employment_status,
    -- a payload stored again when it came back (A -> B -> A) gets :2, :3... so the id names one version
    payload_sha256 || case
        when row_number() over same_payload > 1 then ':' || cast(row_number() over same_payload as {{ dbt.type_string() }})
        else ''
    end as version_id,
    row_number() over employee_versions as version_sequence,
    lag(manager_id) over employee_versions as previous_manager_id,
    lag(manager_id_ref) over employee_versions as previous_manager_id_ref,
    lag(employment_status) over employee_versions as previous_employment_status
from resolved
window
    employee_versions as (
        partition by organization_id, employee_id
        order by coalesce(source_updated_at, fetched_at), fetched_at, payload_sha256
    ),
    same_payload as (partition by organization_id, employee_id, payload_sha256 order by fetched_at)
