{#
  Minutes after local midnight as `HH:MM` text, the same on both warehouses (no strftime /
  to_char). Fractions of a minute are dropped; 24:00 and later mean the next day (25:30).
#}
{% macro clock_text(minutes_expr) -%}
    (lpad(cast(cast(floor(({{ minutes_expr }}) / 60) as integer) as {{ dbt.type_string() }}), 2, '0')
     || ':'
     || lpad(cast(cast(floor({{ minutes_expr }}) as integer) % 60 as {{ dbt.type_string() }}), 2, '0'))
{%- endmacro %}


{# A number that may be negative as short text (number_text with a sign). #}
{% macro signed_number_text(expr) -%}
    case
        when {{ expr }} < 0 then '-' || {{ number_text('(-(' ~ expr ~ '))') }}
        else {{ number_text(expr) }}
    end
{%- endmacro %}
