-- marts.employment_history for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='employment_history') }}
{{ masked_mart('employment_history') }}
