-- marts.dim_employees for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='dim_employees') }}
{{ masked_mart('dim_employees') }}
