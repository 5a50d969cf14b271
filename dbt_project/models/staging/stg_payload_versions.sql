-- Every distinct payload version of every record, as fetched, with its canonical record.
-- Models read fields from `canonical` (macro json_text): the adapter's mapping made it, so its
-- field names are records.py's whatever the vendor. `payload` (the vendor's own shape) is
-- kept for looking at, never read by a model (test_canonical_versions.py checks).
with source as (
    select * from {{ source('raw', 'payload_versions') }}
)

select
    organization_id,
    entity,
    source_id,
    payload_sha256,
    payload,
    canonical,
    source_updated_at,
    fetched_at,
    sync_run_id
from source
