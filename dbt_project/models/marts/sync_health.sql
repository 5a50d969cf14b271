-- Per organization and entity: how its syncs (sync.sync_runs) are doing.
--   reference_at  "now" of the model: the newest started_at over all sync runs (of every
--                 organization), not the clock, so the same runs always give the same answer
--                 and an organization whose syncs stopped falls behind the others
--   windows       7 days / 24 hours before the reference: reference - window < started_at <= reference
--   success       status success; failure: failed or interrupted; running runs are not finished
--   lag           reference_at - the last success's finished_at in minutes (0 when it ended after
--                 the reference); is_stale: lag > 2 x expected cadence (seed entity_cadences), or
--                 no success ever; null for an entity without a cadence
with runs as (
    select * from {{ ref('stg_sync_runs') }}
),

reference as (
    select max(started_at) as reference_at from runs
),

scored as (
    select
        runs.*,
        reference.reference_at,
        {{ epoch_seconds('reference.reference_at') }} - {{ epoch_seconds('runs.started_at') }} as age_seconds,
        coalesce(runs.finished_at, runs.started_at) as ended_at,
        runs.status = 'success' as is_success,
        runs.status in ('failed', 'interrupted') as is_failure
    from runs
    cross join reference
),

last_failures as (
    select organization_id, entity, error
    from (
        select
            organization_id,
            entity,
            error,
            row_number() over (
                partition by organization_id, entity order by ended_at desc, sync_run_id desc
            ) as recency
        from scored
        where is_failure
    ) as failures
    where recency = 1
),

summarized as (
    select
        organization_id,
        entity,
        max(reference_at) as reference_at,
        max(case when is_success then ended_at end) as last_successful_sync_at,
        max(case when is_failure then ended_at end) as last_failure_at,
        sum(case when age_seconds < 7 * 86400 and status <> 'running' then 1 else 0 end) as finished_runs_7d,
        sum(case when age_seconds < 7 * 86400 and is_success then 1 else 0 end) as successful_runs_7d,
        sum(case when age_seconds < 86400 then inserted + updated else 0 end) as records_synced_24h,
        avg(case when age_seconds < 7 * 86400 and is_success then duration_seconds end) as avg_duration_seconds
    from scored
    group by organization_id, entity
),

with_lag as (
    select
        summarized.*,
        cadences.expected_cadence_minutes,
        case
            when summarized.last_successful_sync_at is null then null
            when summarized.last_successful_sync_at > summarized.reference_at then cast(0 as {{ dbt.type_numeric() }})
            else {{ round_numeric('(' ~ epoch_seconds('summarized.reference_at') ~ ' - '
                                  ~ epoch_seconds('summarized.last_successful_sync_at') ~ ') / 60', 2) }}
        end as freshness_lag_minutes
    from summarized
    left join {{ ref('entity_cadences') }} as cadences
        on cadences.entity = summarized.entity
)

select
    with_lag.organization_id,
    with_lag.entity,
    with_lag.reference_at,
    with_lag.last_successful_sync_at,
    with_lag.last_failure_at,
    last_failures.error as last_error,
    with_lag.finished_runs_7d,
    with_lag.successful_runs_7d,
    case
        when with_lag.finished_runs_7d > 0
            then {{ round_numeric('1.0 * with_lag.successful_runs_7d / with_lag.finished_runs_7d', 4) }}
    end as success_rate_7d,
    cast(with_lag.records_synced_24h as bigint) as records_synced_24h,
    {{ round_numeric('with_lag.avg_duration_seconds', 2) }} as avg_duration_seconds,
    with_lag.expected_cadence_minutes,
    with_lag.freshness_lag_minutes,
    case
        when with_lag.expected_cadence_minutes is null then null
        when with_lag.last_successful_sync_at is null then true
        else with_lag.freshness_lag_minutes > 2 * with_lag.expected_cadence_minutes
    end as is_stale
from with_lag
left join last_failures
    on last_failures.organization_id = with_lag.organization_id
    and last_failures.entity = with_lag.entity
