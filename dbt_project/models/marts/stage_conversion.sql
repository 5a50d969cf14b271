{%- set stages = ['applied', 'screening', 'technical_interview', 'onsite', 'offer', 'hired'] -%}
-- Per organization and pipeline stage, from the candidates' synced stage history
-- (candidate_stage_history): how many candidates entered the stage, how many of them went
-- on to a later stage of applied -> screening -> technical_interview -> onsite -> offer ->
-- hired (a skipped stage counts as passed), and the median days a stage lasted before the
-- candidate moved (rejected and withdrawn have no rank: no row).
with entries as (
    select
        *,
        case stage
            {% for stage in stages -%}
            when '{{ stage }}' then {{ loop.index }}
            {% endfor -%}
        end as stage_rank
    from {{ ref('candidate_stage_history') }}
),

reached as (
    select organization_id, candidate_id, stage, min(stage_rank) as stage_rank
    from entries
    where stage_rank is not null
    group by organization_id, candidate_id, stage
),

converted as (
    select
        reached.organization_id,
        reached.stage,
        reached.stage_rank,
        count(distinct reached.candidate_id) as candidates_entered,
        count(distinct later.candidate_id) as moved_on
    from reached
    left join reached as later
        on later.organization_id = reached.organization_id
        and later.candidate_id = reached.candidate_id
        and later.stage_rank > reached.stage_rank
    group by reached.organization_id, reached.stage, reached.stage_rank
),

durations as (
    select
        organization_id,
        stage,
        percentile_cont(0.5) within group (order by days_in_stage) as median_days_in_stage
    from entries
    where days_in_stage is not null
    group by organization_id, stage
)

select
    converted.organization_id,
    converted.stage,
    converted.stage_rank,
    cast(converted.candidates_entered as integer) as candidates_entered,
    cast(converted.moved_on as integer) as moved_on,
    case when converted.stage_rank < {{ stages | length }}
        then {{ round_numeric('1.0 * converted.moved_on / converted.candidates_entered', 4) }}
    end as conversion_rate,
    {{ round_numeric('durations.median_days_in_stage', 2) }} as median_days_in_stage
from converted
left join durations
    on durations.organization_id = converted.organization_id
    and durations.stage = converted.stage
