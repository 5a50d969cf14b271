-- marts.candidate_stage_history for analysts: personal data masked as its yml classes it (macros/personal_data.sql).
{{ config(alias='candidate_stage_history') }}
{{ masked_mart('candidate_stage_history') }}
