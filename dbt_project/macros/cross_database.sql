{#
  The few SQL differences between DuckDB and PostgreSQL, in one place. Everything else
  uses dbt's own cross-database macros (dbt.dateadd, dbt.datediff, dbt.date_trunc,
  dbt.type_*). Each macro dispatches, so another adapter can add its own version.
#}

{# A top-level key of a JSON document held in a text column, as text (JSON null -> NULL). #}
{% macro json_text(json_column, key) -%}
    {{ return(adapter.dispatch('json_text', 'harvey')(json_column, key)) }}
{%- endmacro %}

{% macro default__json_text(json_column, key) -%}
    (cast({{ json_column }} as json) ->> '{{ key }}')
{%- endmacro %}

{% macro duckdb__json_text(json_column, key) -%}
    json_extract_string({{ json_column }}, '$.{{ key }}')
{%- endmacro %}


{# A timestamp with time zone as the wall-clock timestamp of an IANA zone (a column or literal). #}
{% macro local_timestamp(timestamp_tz, timezone) -%}
    {{ return(adapter.dispatch('local_timestamp', 'harvey')(timestamp_tz, timezone)) }}
{%- endmacro %}

{% macro default__local_timestamp(timestamp_tz, timezone) -%}
    timezone({{ timezone }}, {{ timestamp_tz }})
{%- endmacro %}


{# Seconds since the Unix epoch of a timestamp with time zone (for exact durations). #}
{% macro epoch_seconds(timestamp_tz) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'harvey')(timestamp_tz)) }}
{%- endmacro %}

{% macro default__epoch_seconds(timestamp_tz) -%}
    cast(extract(epoch from {{ timestamp_tz }}) as {{ dbt.type_numeric() }})
{%- endmacro %}


{# ISO day of the week of a date: 1 = Monday .. 7 = Sunday. #}
{% macro iso_day_of_week(date_expr) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'harvey')(date_expr)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(date_expr) -%}
    cast(extract(isodow from {{ date_expr }}) as integer)
{%- endmacro %}


{# Minutes since local midnight of a local (wall-clock) timestamp, with fractions of a minute. #}
{% macro minutes_of_day(local_ts) -%}
    (extract(hour from {{ local_ts }}) * 60 + extract(minute from {{ local_ts }})
     + cast(extract(second from {{ local_ts }}) as {{ dbt.type_numeric() }}) / 60)
{%- endmacro %}


{# round() on an exact number on both warehouses (PostgreSQL has no round(double, n)). #}
{% macro round_numeric(expr, digits=2) -%}
    round(cast({{ expr }} as {{ dbt.type_numeric() }}), {{ digits }})
{%- endmacro %}


{#
  A non-negative number as short text, the same on both warehouses:
  4200 -> '4200', 32.5 -> '32.5', 1234.567 -> '1234.57'.
#}
{% macro number_text(expr) -%}
    case
        when {{ expr }} is null then null
        when cast(round(cast({{ expr }} as {{ dbt.type_numeric() }}) * 100) as bigint) % 100 = 0
            then cast(cast(round(cast({{ expr }} as {{ dbt.type_numeric() }})) as bigint) as {{ dbt.type_string() }})
        else rtrim(
            cast(cast(floor(cast({{ expr }} as {{ dbt.type_numeric() }})) as bigint) as {{ dbt.type_string() }})
            || '.'
            || lpad(cast(cast(round(cast({{ expr }} as {{ dbt.type_numeric() }}) * 100) as bigint) % 100
                         as {{ dbt.type_string() }}), 2, '0'),
            '0')
    end
{%- endmacro %}


{# The symbol of a currency code, or the code and a space when it has none we know. #}
{% macro currency_prefix(currency_code) -%}
    case upper({{ currency_code }})
        when 'EUR' then '€'
        when 'USD' then '$'
        when 'GBP' then '£'
        when 'INR' then '₹'
        when 'JPY' then '¥'
        else coalesce(upper({{ currency_code }}) || ' ', '')
    end
{%- endmacro %}


{#
  The integers 0 .. 10^digits - 1 as a subquery with one column n: a portable numbers
  table (no generate_series, no dbt_utils), for date spines.
#}
{% macro integers(digits=5) -%}
    (
        select
            {% for i in range(digits) -%}
            d{{ i }}.n * {{ 10 ** i }}{% if not loop.last %} + {% endif %}
            {%- endfor %} as n
        from
            {% for i in range(digits) -%}
            (values (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) as d{{ i }} (n)
            {%- if not loop.last %} cross join {% endif %}
            {% endfor %}
    )
{%- endmacro %}

{#- One row per day from bounds.first_date to bounds.last_date (both dates), portable:
    the numbers 0..99999 (273 years) added to the first date. -#}
{% macro date_spine(bounds) %}
    select cast({{ dbt.dateadd('day', 'numbers.n', bounds ~ '.first_date') }} as date) as calendar_date
    from {{ bounds }}
    cross join {{ integers(5) }} as numbers
    where numbers.n <= {{ dbt.datediff(bounds ~ '.first_date', bounds ~ '.last_date', 'day') }}
{% endmacro %}

{#- One row per day of each row's own date range, as a lateral join with column day_date:
    `from requests {{ each_day('requests.start_date', 'requests.end_date') }}`. Cheaper than a
    join on a date spine with BETWEEN, which both warehouses can only run as a nested loop. -#}
{% macro each_day(start_date, end_date, alias='days') %}
    cross join lateral (
        select cast(series.day_ts as date) as day_date
        from generate_series(cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp),
                             interval '1 day') as series (day_ts)
    ) as {{ alias }}
{% endmacro %}

{#- Planner statistics for a table just built (PostgreSQL plans the next model with them;
    autovacuum would analyze it only later). DuckDB keeps its statistics as it writes. -#}
{% macro analyze_for_planner() %}
    {{ return(adapter.dispatch('analyze_for_planner', 'harvey')()) }}
{% endmacro %}

{% macro default__analyze_for_planner() %}{% endmacro %}

{% macro postgres__analyze_for_planner() %}analyze {{ this }}{% endmacro %}

{# The day of the week of a date as the weekend_days setting spells it: 'mon' .. 'sun'. #}
{% macro day_name(date_expr) -%}
    case {{ iso_day_of_week(date_expr) }}
        when 1 then 'mon' when 2 then 'tue' when 3 then 'wed' when 4 then 'thu'
        when 5 then 'fri' when 6 then 'sat' else 'sun'
    end
{%- endmacro %}

{# Whether a day name is in a comma list of weekend days (the organization's setting). #}
{% macro is_weekend_day(weekend_days, day_name) -%}
    ((',' || {{ weekend_days }} || ',') like ('%,' || {{ day_name }} || ',%'))
{%- endmacro %}
