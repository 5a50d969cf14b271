-- marts.compliance_violations for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='compliance_violations') }}
{{ masked_mart('compliance_violations') }}
