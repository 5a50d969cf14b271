-- marts.attrition_monthly for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='attrition_monthly') }}
{{ masked_mart('attrition_monthly') }}
