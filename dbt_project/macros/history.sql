{#
  The effective-dated (SCD2) history of one entity's records from their synced versions
  (stg_payload_versions): one row per version whose canonical record differs from the one
  before it (raw stores a version when it differs from the record's latest, so a value that
  changes back, A → B → A, is three rows; a replayed older version sorts beside the original
  and is no row). Versions are ordered as int_employee_versions orders them: the source's
  updated_at, then fetched_at. valid_from is the source's updated_at (fetched_at when it sent
  none), or fetched_at when the source stamped it no later than the version before (a
  day-granular updated_at), never before an earlier version's; valid_to the next version's
  valid_from, or, for the last version of a record flagged deleted, when it was flagged
  (exclusive; null while it holds). `records`: the entity's staging model, `key`: its column of the record's source id.
  Gives the CTE `history` (versions' columns plus version_number, valid_from, valid_to, is_current).
#}
{% macro version_history(entity, records, key) %}
versions as (
    select
        organization_id,
        source_id,
        payload_sha256,
        canonical,
        source_updated_at,
        fetched_at,
        coalesce(source_updated_at, fetched_at) as changed_at,
        lag(canonical) over (
            partition by organization_id, source_id
            order by coalesce(source_updated_at, fetched_at), fetched_at, payload_sha256
        ) as previous_canonical
    from {{ ref('stg_payload_versions') }}
    where entity = '{{ entity }}'
),

changes as (
    select
        *,
        lag(changed_at) over (
            partition by organization_id, source_id order by changed_at, fetched_at, payload_sha256
        ) as previous_changed_at
    from versions
    where previous_canonical is null or previous_canonical <> canonical
),

started as (
    -- a source that stamps two versions alike (a day-granular updated_at): the later one
    -- holds from when it was fetched; never before an earlier version's start
    select
        *,
        max(case when previous_changed_at is null or changed_at > previous_changed_at then changed_at
                 else fetched_at end) over (
            partition by organization_id, source_id order by changed_at, fetched_at, payload_sha256
            rows between unbounded preceding and current row
        ) as valid_from
    from changes
),

history as (
    select
        started.organization_id,
        started.source_id,
        started.payload_sha256,
        started.canonical,
        started.source_updated_at,
        started.fetched_at,
        row_number() over record_versions as version_number,
        started.valid_from,
        coalesce(
            lead(started.valid_from) over record_versions,
            case when records.is_deleted then records.deleted_at end
        ) as valid_to,
        lead(started.valid_from) over record_versions is null
            and not coalesce(records.is_deleted, false) as is_current
    from started
    left join {{ ref(records) }} as records
        on records.organization_id = started.organization_id
        and records.{{ key }} = started.source_id
    window record_versions as (
        partition by started.organization_id, started.source_id
        order by started.changed_at, started.fetched_at, started.payload_sha256
    )
)
{% endmacro %}


{# A field of a version's canonical record, cast (`type`: a dbt type such as dbt.type_numeric()). #}
{% macro canonical_field(field, type=none) -%}
    {%- if type is none -%}
        {{ json_text('history.canonical', field) }}
    {%- else -%}
        cast({{ json_text('history.canonical', field) }} as {{ type }})
    {%- endif -%}
{%- endmacro %}

{#
  Whether the employee (a `stg_employees` row aliased `employees`) was employed in `year`:
  hired in or before it and not terminated before it (an unknown date does not exclude).
#}
{% macro employed_in_year(employees, year) -%}
(
    ({{ employees }}.hire_date is null
     or cast(extract(year from {{ employees }}.hire_date) as integer) <= {{ year }})
    and ({{ employees }}.termination_date is null
         or cast(extract(year from {{ employees }}.termination_date) as integer) >= {{ year }})
)
{%- endmacro %}
