-- marts.attendance_monthly for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='attendance_monthly') }}
{{ masked_mart('attendance_monthly') }}
