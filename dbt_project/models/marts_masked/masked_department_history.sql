-- marts.department_history for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='department_history') }}
{{ masked_mart('department_history') }}
