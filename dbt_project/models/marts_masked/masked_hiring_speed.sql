-- marts.hiring_speed for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='hiring_speed') }}
{{ masked_mart('hiring_speed') }}
