-- Every product that can still be ordered (not discontinued) has a row in mart_purchase_suggestions with a
-- reason. Returns the products that do not.
select
    profiles.product_id,
    profiles.lifecycle,
    suggestions.order_status,
    suggestions.reason
from {{ ref('int_series_profiles') }} as profiles
left join {{ ref('mart_purchase_suggestions') }} as suggestions
    on profiles.product_id = suggestions.product_id
where
    profiles.lifecycle != 'discontinued'
    and (suggestions.product_id is null or suggestions.reason is null or trim(suggestions.reason) = '')
