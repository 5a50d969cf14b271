-- Each candidate's path through the pipeline as the synced versions of the candidate record
-- show it (macros/history.sql): one row per stage the candidate entered, in order, from the
-- first version showing it to the first version showing another stage. Dates are in the
-- organization's time zone (`_default` when it has no settings).
with {{ version_history('candidates', 'stg_candidates', 'source_id') }},

default_settings as (
    select timezone from {{ ref('organization_settings') }} where organization_id = '_default'
),

stages as (
    select
        history.organization_id,
        history.source_id as candidate_id,
        history.valid_from,
        {{ canonical_field('current_stage') }} as stage,
        {{ canonical_field('applied_for_job_id') }} as applied_for_job_id,
        {{ canonical_field('application_date', 'date') }} as application_date,
        coalesce(settings.timezone, default_settings.timezone) as timezone
    from history
    cross join default_settings
    left join {{ ref('int_organization_settings') }} as settings
        on settings.organization_id = history.organization_id
),

stage_changes as (
    select
        *,
        lag(stage) over (partition by organization_id, candidate_id order by valid_from) as previous_stage
    from stages
),

entries as (
    select
        organization_id,
        candidate_id,
        stage,
        applied_for_job_id,
        application_date,
        valid_from as entered_at,
        lead(valid_from) over candidate_entries as left_at,
        lead(stage) over candidate_entries as next_stage,
        row_number() over candidate_entries as entry_number,
        timezone
    from stage_changes
    where previous_stage is null or stage <> previous_stage
    window candidate_entries as (partition by organization_id, candidate_id order by valid_from)
),

resolved as (
    select
        entries.*,
        cast({{ local_timestamp('entries.entered_at', 'entries.timezone') }} as date) as entered_on,
        cast({{ local_timestamp('entries.left_at', 'entries.timezone') }} as date) as left_on
    from entries
)

select
    resolved.organization_id,
    resolved.candidate_id,
    resolved.entry_number,
    resolved.stage,
    resolved.next_stage,
    resolved.entered_at,
    resolved.left_at,
    resolved.entered_on,
    resolved.left_on,
    {{ dbt.datediff('resolved.entered_on', 'resolved.left_on', 'day') }} as days_in_stage,
    resolved.application_date,
    {{ reference_columns('resolved', 'applied_for_job_id') }}
from resolved
{{ reference_join('resolved', 'applied_for_job_id', 'job_requisitions') }}
