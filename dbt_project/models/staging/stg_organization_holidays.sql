with source as (
    select * from {{ source('sync', 'organization_holidays') }}
)

select
    organization_id,
    cast(holiday_date as date) as holiday_date,
    name as holiday_name,
    source as holiday_source
from source
