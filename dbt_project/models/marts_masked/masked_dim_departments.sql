-- marts.dim_departments for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='dim_departments') }}
{{ masked_mart('dim_departments') }}
