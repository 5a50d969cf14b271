-- marts.attendance_daily for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='attendance_daily') }}
{{ masked_mart('attendance_daily') }}
