-- marts.leave_balances for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='leave_balances') }}
{{ masked_mart('leave_balances') }}
