with source as (
    select * from {{ source('sync', 'sync_runs') }}
)

select
    id as sync_run_id,
    organization_id,
    entity,
    mode,
    {{ adapter.quote('trigger') }} as sync_trigger,
    triggered_by,
    dagster_run_id,
    status,
    started_at,
    finished_at,
    cast(fetched as bigint) as fetched,
    cast(inserted as bigint) as inserted,
    cast(updated as bigint) as updated,
    cast(unchanged as bigint) as unchanged,
    cast(quarantined as bigint) as quarantined,
    cast(deleted as bigint) as deleted,
    cast(raw_versions as bigint) as raw_versions,
    cast(api_calls as bigint) as api_calls,
    cast(duration_seconds as {{ dbt.type_numeric() }}) as duration_seconds,
    error
from source
