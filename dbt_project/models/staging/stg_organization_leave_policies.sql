with source as (
    select * from {{ source('sync', 'organization_leave_policies') }}
)

select
    organization_id,
    leave_type,
    cast(annual_allocation_days as {{ dbt.type_numeric() }}) as annual_allocation_days,
    cast(min_notice_days as integer) as min_notice_days
from source
