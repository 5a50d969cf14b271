-- The attendance models fall back on the `_default` row of organization_settings:
-- exactly one must exist, with every rule filled in.
select count(*) as default_rows
from {{ ref('organization_settings') }}
where organization_id = '_default'
  and timezone is not null and work_start is not null and grace_minutes is not null
  and standard_hours is not null and max_daily_overtime_hours is not null and weekend_days is not null
having count(*) <> 1
