{#
  The references of a staging model resolve (see macros/references.sql): per organization,
  live rows (not deleted) whose `<column>_ref` holds a value and whose resolved `column` is
  null count as unresolved; the test fails for an organization with more of them than the
  tolerance (var reference_tolerance: share of its references, at least min_rows, at most
  max_rows), the room a late-arriving record of an incremental sync needs. No exemption for
  a first load: the same rows are unresolved whenever they are judged.
  Each failing row names the organization, table, column, referenced entity, counts and up
  to five unresolved values (on-run-end writes them to the log: log_unresolved_references).
#}
{% test references_resolve(model, column_name, to) %}
with refs as (
    select
        organization_id,
        {{ column_name }}_ref as reference,
        {{ column_name }} as resolved
    from {{ model }}
    where not is_deleted
      and {{ column_name }}_ref is not null
),

counted as (
    select
        organization_id,
        count(*) as live_references,
        count(*) - count(resolved) as unresolved
    from refs
    group by organization_id
),

judged as (
    select
        organization_id,
        live_references,
        unresolved,
        cast({{ tolerated_unresolved('live_references') }} as bigint) as tolerated
    from counted
),

unresolved_values as (
    select organization_id, reference,
           row_number() over (partition by organization_id order by reference) as example_number
    from (
        select distinct organization_id, reference
        from refs
        where resolved is null
    ) as distinct_values
),

examples as (
    select organization_id, string_agg(reference, ', ' order by reference) as examples
    from unresolved_values
    where example_number <= 5
    group by organization_id
)

select
    judged.organization_id,
    '{{ model.identifier }}' as table_name,
    '{{ column_name }}' as column_name,
    '{{ to }}' as referenced_entity,
    judged.live_references,
    judged.unresolved,
    judged.tolerated,
    examples.examples
from judged
left join examples
    on examples.organization_id = judged.organization_id
where judged.unresolved > judged.tolerated
{% endtest %}
