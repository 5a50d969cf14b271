-- marts.employee_history for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='employee_history') }}
{{ masked_mart('employee_history') }}
