-- marts.leave_liability_monthly for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='leave_liability_monthly') }}
{{ masked_mart('leave_liability_monthly') }}
