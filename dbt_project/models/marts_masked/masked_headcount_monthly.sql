-- marts.headcount_monthly for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='headcount_monthly') }}
{{ masked_mart('headcount_monthly') }}
