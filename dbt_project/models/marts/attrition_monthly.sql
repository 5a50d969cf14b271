-- Attrition per organization and month from headcount_monthly and the employment
-- segments: terminations over the month's average headcount, the same over the 12 months
-- ending with the month, and first-year attrition (people who left within 365 days of
-- their spell's start, a rehire counting from the rehire). The source says nothing of
-- whether a leaver was regretted, so there is no regretted/non-regretted split.
with months as (
    select
        organization_id,
        month,
        sum(headcount_start) as headcount_start,
        sum(headcount_end) as headcount_end,
        sum(terminations) as terminations
    from {{ ref('headcount_monthly') }}
    group by organization_id, month
),

first_year as (
    select
        organization_id,
        cast({{ dbt.date_trunc('month', 'last_day') }} as date) as month,
        count(*) as first_year_terminations
    from {{ ref('int_employment_segments') }}
    where ends_spell
        and last_day < cast({{ dbt.dateadd('day', 365, 'spell_start_date') }} as date)
    group by organization_id, cast({{ dbt.date_trunc('month', 'last_day') }} as date)
),

measured as (
    select
        months.organization_id,
        months.month,
        months.headcount_start,
        months.headcount_end,
        cast(months.headcount_start + months.headcount_end as {{ dbt.type_numeric() }}) / 2 as average_headcount,
        months.terminations,
        coalesce(first_year.first_year_terminations, 0) as first_year_terminations
    from months
    left join first_year
        on first_year.organization_id = months.organization_id
        and first_year.month = months.month
),

rolling as (
    select
        *,
        sum(terminations) over last_12_months as rolling_12m_terminations,
        avg(average_headcount) over last_12_months as rolling_12m_average_headcount
    from measured
    window last_12_months as (
        partition by organization_id order by month rows between 11 preceding and current row
    )
)

select
    organization_id,
    month,
    headcount_start,
    headcount_end,
    {{ round_numeric('average_headcount', 2) }} as average_headcount,
    terminations,
    {{ round_numeric('terminations / nullif(average_headcount, 0)', 4) }} as attrition_rate,
    first_year_terminations,
    {{ round_numeric('first_year_terminations / nullif(average_headcount, 0)', 4) }} as first_year_attrition_rate,
    rolling_12m_terminations,
    {{ round_numeric('rolling_12m_average_headcount', 4) }} as rolling_12m_average_headcount,
    {{ round_numeric('rolling_12m_terminations / nullif(rolling_12m_average_headcount, 0)', 4) }}
        as rolling_12m_attrition_rate
from rolling
