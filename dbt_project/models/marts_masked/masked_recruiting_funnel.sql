-- marts.recruiting_funnel for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='recruiting_funnel') }}
{{ masked_mart('recruiting_funnel') }}
