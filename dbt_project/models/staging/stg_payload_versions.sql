-- Every distinct payload version of every record, as fetched. The payload stays JSON
-- text; models that need fields of it extract them (macro json_text).
with source as (
    select * from {{ source('raw', 'payload_versions') }}
)

select
    organization_id,
    entity,
    source_id,
    payload_sha256,
    payload,
    source_updated_at,
    fetched_at,
    sync_run_id
from source
