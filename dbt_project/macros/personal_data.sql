{#
  Personal data (README: Personal data): the masked analyst tables (models/marts_masked)
  and, on PostgreSQL, the per-organization row-level security of marts and masked tables.
#}

{# A contact value (name, email, phone) as a pseudonym: a keyed hash, stable within an
   organization (the same person has the same pseudonym in every table and build) and
   unlinkable across organizations. The key comes from HARVEY_PSEUDONYM_KEY; without it
   the masked models refuse to build (an unkeyed hash of an email is reversed by guessing). #}
{% macro pseudonym(column, organization_column='organization_id') -%}
    {%- set secret = "'" ~ pseudonym_key() | replace("'", "''") ~ "'" -%}
    case when {{ column }} is not null then
        'p_' || substr({{ sha256_hex(secret ~ " || ':' || " ~ sha256_hex(secret ~ " || ':' || " ~ organization_column
                                                                            ~ " || ':' || " ~ column)) }}, 1, 16)
    end
{%- endmacro %}

{# The key of the pseudonyms, from the environment; an error at run time without one. #}
{% macro pseudonym_key() -%}
    {%- set key = env_var('HARVEY_PSEUDONYM_KEY', '') -%}
    {%- if execute and not key -%}
        {{ exceptions.raise_compiler_error(
            "HARVEY_PSEUDONYM_KEY is not set: the masked analyst tables (marts_masked) are not built "
            ~ "without a pseudonym key (set it in dbt's environment; keep it stable, pseudonyms follow it)") }}
    {%- endif -%}
    {{ return(key) }}
{%- endmacro %}

{# Hex SHA-256 of a text expression. #}
{% macro sha256_hex(text_expr) -%}
    {{ return(adapter.dispatch('sha256_hex', 'harvey')(text_expr)) }}
{%- endmacro %}

{% macro default__sha256_hex(text_expr) -%}
    sha256({{ text_expr }})
{%- endmacro %}

{% macro postgres__sha256_hex(text_expr) -%}
    encode(sha256(convert_to({{ text_expr }}, 'UTF8')), 'hex')
{%- endmacro %}

{# A salary or other pay amount as a band label (whatever its period): coarse, ordered. #}
{% macro pay_band(amount) -%}
    case
        when {{ amount }} is null then null
        when {{ amount }} < 1000 then 'under 1k'
        when {{ amount }} < 2500 then '1k-2.5k'
        when {{ amount }} < 5000 then '2.5k-5k'
        when {{ amount }} < 10000 then '5k-10k'
        when {{ amount }} < 25000 then '10k-25k'
        when {{ amount }} < 50000 then '25k-50k'
        when {{ amount }} < 100000 then '50k-100k'
        when {{ amount }} < 200000 then '100k-200k'
        else '200k and over'
    end
{%- endmacro %}

{# A leave type generalized: health and family leave (sick, maternity, paternity) become
   'protected', so a masked row does not tell why a person was away. #}
{% macro leave_category(leave_type) -%}
    case
        when {{ leave_type }} is null then null
        when {{ leave_type }} in ('sick', 'maternity', 'paternity') then 'protected'
        when {{ leave_type }} = 'unpaid' then 'unpaid'
        else 'paid'
    end
{%- endmacro %}

{# Post-hook of every mart and masked table: on PostgreSQL, once `harvey access setup` has
   made the function, row-level security by organization and the grants to the reader
   roles, applied again whenever dbt builds the table anew (a rebuild drops them). #}
{% macro protect_by_organization() %}
    {{ return(adapter.dispatch('protect_by_organization', 'harvey')()) }}
{% endmacro %}

{% macro default__protect_by_organization() %}{% endmacro %}

{% macro postgres__protect_by_organization() %}
do $protect$ begin
    if to_regprocedure('access.protect_table(regclass)') is not null then
        perform access.protect_table('{{ this }}'::regclass);
    end if;
end $protect$
{% endmacro %}

{# The select of a masked table over mart `mart_name`, column by column as the mart's yml
   classes them (meta pii): identifier and non_personal columns as they are (a column without
   a class is an error: an unclassed column would pass unmasked), contact_pii pseudonymized, free_text left out, sensitive_pii as its meta `mask` says
   (pseudonym, pay_band -> <column>_band, leave_category -> leave_category, remove). Same rows, same
   keys: joins and counts on masked tables match the marts'. #}
{% macro masked_mart(mart_name) -%}
    {%- set columns = [] -%}
    {%- if execute -%}
        {%- do pseudonym_key() -%}
        {%- set node = graph.nodes['model.harvey.' ~ mart_name] -%}
        {%- for name, column in node.columns.items() -%}
            {%- set pii = column.meta.get('pii') -%}
            {%- set mask = column.meta.get('mask') -%}
            {%- if pii == 'contact_pii' -%}
                {%- do columns.append(pseudonym(name) ~ ' as ' ~ name) -%}
            {%- elif pii == 'free_text' or (pii == 'sensitive_pii' and mask == 'remove') -%}
            {%- elif pii == 'sensitive_pii' and mask == 'pseudonym' -%}
                {%- do columns.append(pseudonym(name) ~ ' as ' ~ name) -%}
            {%- elif pii == 'sensitive_pii' and mask == 'pay_band' -%}
                {%- do columns.append(pay_band(name) ~ ' as ' ~ name ~ '_band') -%}
            {%- elif pii == 'sensitive_pii' and mask == 'leave_category' -%}
                {%- do columns.append(leave_category(name) ~ ' as leave_category') -%}
            {%- elif pii == 'sensitive_pii' -%}
                {{ exceptions.raise_compiler_error(
                    mart_name ~ "." ~ name ~ " is sensitive_pii: give its meta a mask (pseudonym, pay_band, leave_category, remove)") }}
            {%- elif pii in ('identifier', 'non_personal') -%}
                {%- do columns.append(name) -%}
            {%- else -%}
                {{ exceptions.raise_compiler_error(
                    mart_name ~ "." ~ name ~ " has no class: give its meta a pii (identifier, contact_pii, sensitive_pii, free_text, non_personal)") }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif %}
select
    {{ columns | join(',\n    ') if columns else '1 as parsing' }}
from {{ ref(mart_name) }}
{%- endmacro %}
