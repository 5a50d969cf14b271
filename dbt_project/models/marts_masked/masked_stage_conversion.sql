-- marts.stage_conversion for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='stage_conversion') }}
{{ masked_mart('stage_conversion') }}
