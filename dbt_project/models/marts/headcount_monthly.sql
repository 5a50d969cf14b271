-- Headcount per organization, month, department, location and work type, from the
-- employment segments (int_employment_segments): who is on the books at the start of the
-- month's first day and at the end of its last day, and who joined, left or moved between
-- departments in the month. Months run from each organization's first employment to the
-- month of as_of_date (macro as_of_date).
with recursive segments as (
    select
        segments.*,
        employees.location,
        employees.work_type,
        -- on the books from the day after a hire (a hire on the 1st is a hire of the month,
        -- not part of its opening headcount), from its first day for a later row of a spell
        case
            when segments.starts_spell then cast({{ dbt.dateadd('day', 1, 'segments.start_date') }} as date)
            else segments.start_date
        end as counted_from
    from {{ ref('int_employment_segments') }} as segments
    inner join {{ ref('stg_employees') }} as employees
        on employees.organization_id = segments.organization_id
        and employees.employee_id = segments.employee_id
),

standard_weeks as (
    select
        organization_id,
        coalesce(standard_hours, 8) * (7 - case
            when coalesce(weekend_days, '') = '' then 0
            else length(weekend_days) - length(replace(weekend_days, ',', '')) + 1
        end) as standard_week_hours
    from {{ ref('int_organization_settings') }}
),

{{ months_to_as_of_date('segments', 'start_date') }},

calendar as (
    select
        organization_id,
        month_start,
        cast({{ dbt.dateadd('month', 1, 'month_start') }} as date) as next_month_start
    from months
),

facts as (
    select
        calendar.organization_id,
        calendar.month_start,
        segments.department,
        segments.location,
        segments.work_type,
        1 as headcount_start,
        0 as headcount_end,
        0 as fte_end,
        0 as hires,
        0 as terminations,
        0 as transfers_in,
        0 as transfers_out
    from calendar
    inner join segments
        on segments.organization_id = calendar.organization_id
        and segments.counted_from <= calendar.month_start
        and (segments.last_day is null or segments.last_day >= calendar.month_start)
    union all
    select
        calendar.organization_id,
        calendar.month_start,
        segments.department,
        segments.location,
        segments.work_type,
        0 as headcount_start,
        1 as headcount_end,
        coalesce(segments.hours_per_week, standard_weeks.standard_week_hours)
        / nullif(standard_weeks.standard_week_hours, 0) as fte_end,
        0 as hires,
        0 as terminations,
        0 as transfers_in,
        0 as transfers_out
    from calendar
    inner join segments
        on segments.organization_id = calendar.organization_id
        and segments.counted_from <= calendar.next_month_start
        and (segments.last_day is null or segments.last_day >= calendar.next_month_start)
    inner join standard_weeks
        on standard_weeks.organization_id = calendar.organization_id
    union all
    select
        calendar.organization_id,
        calendar.month_start,
        segments.department,
        segments.location,
        segments.work_type,
        0 as headcount_start,
        0 as headcount_end,
        0 as fte_end,
        case when segments.starts_spell and segments.start_date >= calendar.month_start then 1 else 0 end as hires,
        case when segments.ends_spell and segments.last_day < calendar.next_month_start then 1 else 0 end
            as terminations,
        case when segments.is_transfer and segments.start_date >= calendar.month_start then 1 else 0 end
            as transfers_in,
        0 as transfers_out
    from calendar
    inner join segments
        on segments.organization_id = calendar.organization_id
        and (
            (segments.start_date >= calendar.month_start and segments.start_date < calendar.next_month_start)
            or (segments.last_day >= calendar.month_start and segments.last_day < calendar.next_month_start)
        )
    union all
    select
        calendar.organization_id,
        calendar.month_start,
        segments.previous_department as department,
        segments.location,
        segments.work_type,
        0 as headcount_start,
        0 as headcount_end,
        0 as fte_end,
        0 as hires,
        0 as terminations,
        0 as transfers_in,
        1 as transfers_out
    from calendar
    inner join segments
        on segments.organization_id = calendar.organization_id
        and segments.is_transfer
        and segments.start_date >= calendar.month_start
        and segments.start_date < calendar.next_month_start
)

select
    organization_id,
    month_start as month,
    department,
    location,
    work_type,
    -- integer and numeric(18, 2), not what sum gives (DuckDB: HUGEINT and DECIMAL(28, 2), 128-bit
    -- values that DuckDB scans several times slower): analysts sum these columns over the whole
    -- table (README's example queries 1 to 3; BENCHMARKS.md, Analyst marts)
    cast(sum(headcount_start) as integer) as headcount_start,
    cast(sum(headcount_end) as integer) as headcount_end,
    cast({{ round_numeric('sum(fte_end)', 2) }} as numeric(18, 2)) as fte_end,
    cast(sum(hires) as integer) as hires,
    cast(sum(terminations) as integer) as terminations,
    cast(sum(transfers_in) as integer) as transfers_in,
    cast(sum(transfers_out) as integer) as transfers_out
from facts
group by organization_id, month_start, department, location, work_type
