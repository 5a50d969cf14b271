-- marts.interviewer_load for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='interviewer_load') }}
{{ masked_mart('interviewer_load') }}
