-- Timeline events read off the employment history (dates from the rows' effective dates):
--   contract_started      the first row
--   contract_renewed      a later row that starts after the previous row's end date and
--                         changes nothing else: contract type, hours, salary (and period),
--                         job title and department as before (a row that changes one of
--                         them shows that change instead)
--   contract_type_change  the contract type differs from the row before
--   salary_increase       the salary rises (same salary period and currency; amount and percentage)
--   salary_decrease       the salary falls (same salary period and currency; amount and percentage)
--   salary_change         the salary differs but the two are not comparable: the salary period
--                         or the currency changed (no amount or percentage, no direction)
--   hours_change          hours_per_week differs
--   job_title_change      the job title differs
--   department_change     the department differs
--   manager_change        the manager differs (compared as manager_key), for employees whose
--                         rows name a manager at all (a source that keeps no manager in its
--                         history leaves it to int_employee_version_events, dated first_seen)
--   contract_ended        the last row has an end date (no row follows it)
with employments as (
    select * from {{ ref('int_employments_sequenced') }}
),

followers as (
    select
        *,
        salary is not null and previous_salary is not null and salary <> previous_salary
            as salary_changed,
        (salary_period is not distinct from previous_salary_period
            and currency is not distinct from previous_currency) as salary_comparable
    from employments
    where employment_sequence > 1
),

employee_names as (
    select organization_id, employee_id, first_name || ' ' || last_name as full_name
    from {{ ref('stg_employees') }}
),

salary_changes as (
    select
        *,
        case when salary_comparable then salary - previous_salary end as salary_amount,
        case
            when salary_comparable and previous_salary <> 0
                then {{ round_numeric('100 * (salary - previous_salary) / previous_salary', 2) }}
        end as salary_percentage
    from followers
    where salary_changed
),

contract_started as (
    select
        organization_id,
        employee_id,
        'contract_started' as event_type,
        start_date as effective_date,
        'Contract started' as title,
        concat_ws(', ',
            replace(contract_type, '_', ' ') || ' contract',
            {{ number_text('hours_per_week') }} || ' h/week',
            job_title,
            department) as description,
        cast(null as {{ dbt.type_string() }}) as before_value,
        contract_type as after_value,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_numeric() }}) as percentage,
        currency,
        source_id
    from employments
    where employment_sequence = 1
),

contract_renewed as (
    select
        organization_id,
        employee_id,
        'contract_renewed' as event_type,
        start_date as effective_date,
        'Contract renewed' as title,
        concat_ws(' ',
            replace(contract_type, '_', ' ') || ' contract renewed',
            'until ' || cast(end_date as {{ dbt.type_string() }})) as description,
        cast(previous_end_date as {{ dbt.type_string() }}) as before_value,
        cast(end_date as {{ dbt.type_string() }}) as after_value,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_numeric() }}) as percentage,
        currency,
        source_id
    from followers
    where previous_end_date is not null
      and start_date > previous_end_date
      and contract_type is not distinct from previous_contract_type
      and hours_per_week is not distinct from previous_hours_per_week
      and salary is not distinct from previous_salary
      and salary_period is not distinct from previous_salary_period
      and job_title is not distinct from previous_job_title
      and department is not distinct from previous_department
),

contract_type_change as (
    select
        organization_id,
        employee_id,
        'contract_type_change' as event_type,
        start_date as effective_date,
        'Contract change ' || replace(previous_contract_type, '_', ' ') || '→' || replace(contract_type, '_', ' ')
            as title,
        replace(contract_type, '_', ' ') || ' contract from ' || cast(start_date as {{ dbt.type_string() }})
            as description,
        previous_contract_type as before_value,
        contract_type as after_value,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_numeric() }}) as percentage,
        currency,
        source_id
    from followers
    where contract_type is not null
      and previous_contract_type is not null
      and contract_type <> previous_contract_type
),

salary_events as (
    select
        organization_id,
        employee_id,
        case
            when salary_amount > 0 then 'salary_increase'
            when salary_amount < 0 then 'salary_decrease'
            else 'salary_change'
        end as event_type,
        start_date as effective_date,
        case
            when salary_amount > 0
                then 'Salary increase +' || {{ currency_prefix('currency') }} || {{ number_text('salary_amount') }}
            when salary_amount < 0
                then 'Salary decrease -' || {{ currency_prefix('currency') }} || {{ number_text('-salary_amount') }}
            else 'Salary change'
        end as title,
        case
            when salary_comparable then
                {{ currency_prefix('previous_currency') }} || {{ number_text('previous_salary') }} || ' → '
                || {{ currency_prefix('currency') }} || {{ number_text('salary') }}
                || coalesce(' per ' || salary_period, '')
                || coalesce(' (' || case when salary_percentage < 0 then '-' else '+' end
                            || {{ number_text('abs(salary_percentage)') }} || '%)', '')
            else
                {{ currency_prefix('previous_currency') }} || {{ number_text('previous_salary') }}
                || coalesce(' per ' || previous_salary_period, '') || ' → '
                || {{ currency_prefix('currency') }} || {{ number_text('salary') }}
                || coalesce(' per ' || salary_period, '')
        end as description,
        {{ number_text('previous_salary') }} as before_value,
        {{ number_text('salary') }} as after_value,
        salary_amount as amount,
        salary_percentage as percentage,
        currency,
        source_id
    from salary_changes
),

hours_change as (
    select
        organization_id,
        employee_id,
        'hours_change' as event_type,
        start_date as effective_date,
        'Hours change ' || {{ number_text('previous_hours_per_week') }} || '→'
            || {{ number_text('hours_per_week') }} || ' h/week' as title,
        'Contracted hours ' || {{ number_text('previous_hours_per_week') }} || ' → '
            || {{ number_text('hours_per_week') }} || ' per week' as description,
        {{ number_text('previous_hours_per_week') }} as before_value,
        {{ number_text('hours_per_week') }} as after_value,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_numeric() }}) as percentage,
        currency,
        source_id
    from followers
    where hours_per_week is not null
      and previous_hours_per_week is not null
      and hours_per_week <> previous_hours_per_week
),

{#- a text field that differs from the previous employment row: one event, same shape -#}
{%- for field, title in [('job_title', 'Job title change'), ('department', 'Department change')] %}
{{ field }}_change as (
    select
        organization_id,
        employee_id,
        '{{ field }}_change' as event_type,
        start_date as effective_date,
        '{{ title }}' as title,
        previous_{{ field }} || ' → ' || {{ field }} as description,
        previous_{{ field }} as before_value,
        {{ field }} as after_value,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_numeric() }}) as percentage,
        currency,
        source_id
    from followers
    where {{ field }} is not null
      and previous_{{ field }} is not null
      and {{ field }} <> previous_{{ field }}
),
{% endfor %}
manager_change as (
    -- named as in int_employee_version_events: the manager's name, else the source's value
    select
        followers.organization_id,
        followers.employee_id,
        'manager_change' as event_type,
        followers.start_date as effective_date,
        'Manager change' as title,
        coalesce(previous_manager.full_name, followers.previous_manager_key, 'no manager') || ' → '
            || coalesce(new_manager.full_name, followers.manager_key, 'no manager') as description,
        followers.previous_manager_key as before_value,
        followers.manager_key as after_value,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_numeric() }}) as percentage,
        followers.currency,
        followers.source_id
    from followers
    left join employee_names as previous_manager
        on previous_manager.organization_id = followers.organization_id
        and previous_manager.employee_id = followers.previous_manager_id
    left join employee_names as new_manager
        on new_manager.organization_id = followers.organization_id
        and new_manager.employee_id = followers.manager_id
    where followers.has_manager_history
      and followers.manager_key is distinct from followers.previous_manager_key
),

contract_ended as (
    select
        organization_id,
        employee_id,
        'contract_ended' as event_type,
        end_date as effective_date,
        'Contract ended' as title,
        replace(contract_type, '_', ' ') || ' contract ended' as description,
        contract_type as before_value,
        cast(null as {{ dbt.type_string() }}) as after_value,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_numeric() }}) as percentage,
        currency,
        source_id
    from employments
    where employment_sequence = employment_count
      and end_date is not null
)

select * from contract_started
union all select * from contract_renewed
union all select * from contract_type_change
union all select * from salary_events
union all select * from hours_change
union all select * from job_title_change
union all select * from department_change
union all select * from manager_change
union all select * from contract_ended
