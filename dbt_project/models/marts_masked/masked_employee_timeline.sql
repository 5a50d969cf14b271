-- marts.employee_timeline for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='employee_timeline') }}
{{ masked_mart('employee_timeline') }}
