-- marts.sync_health for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='sync_health') }}
{{ masked_mart('sync_health') }}
