-- Purchase orders that are open at the as-of month end (ordered by then, not cancelled, not received
-- by then), and every order row that might be open but cannot be read, with what is wrong with it.
-- Replays see what was open then: an order received after the as-of month end was still open.
-- An overdue order (expected in or before the as-of month, not received) is expected next month.
with

orders as (

    select * from {{ ref('stg_raw__purchase_orders') }}

),

batch as (

    select * from {{ ref('int_batch_parameters') }}

),

products as (

    select * from {{ ref('int_products_as_of') }}

),

-- known at the as-of: loaded by the cut-off (a row without load time counts as known) and not
-- ordered after the as-of month (a row without a readable order date is kept, to be reported)
known as (

    select
        orders.*,
        batch.as_of_month,
        batch.as_of_month_end,
        products.product_id is not null as is_known_product,
        -- a received order without a receipt date counts as received at its expected arrival month
        case
            when orders.status = 'received'
                then coalesce(orders.received_date, orders.expected_arrival_month, date '0001-01-01')
            else orders.received_date
        end as received_by
    from orders
    cross join batch
    left join products
        on orders.product_id = products.product_id
    where
        coalesce(orders.loaded_at, batch.load_cutoff_ts) <= batch.load_cutoff_ts
        and (orders.order_date is null or orders.order_date <= batch.as_of_month_end)

),

judged as (

    select
        known.*,
        case
            when known.product_id is null then 'no product_id'
            when not known.is_known_product then 'product ' || known.product_id || ' is not in the product master'
            when known.order_date is null
                then 'order_date ' || coalesce('''' || known.order_date_raw || '''', 'empty') || ' is not a date'
            when known.quantity is null or known.quantity <= 0
                then
                    'quantity ' || coalesce('''' || known.quantity_raw || '''', 'empty') || ' is not a whole number > 0'
            when known.status is null or known.status not in ('open', 'received', 'cancelled')
                then
                    'status ' || coalesce('''' || known.status_raw || '''', 'empty')
                    || ' is not open, received or cancelled'
            when known.expected_arrival_month is null
                then
                    'expected_arrival_month ' || coalesce('''' || known.expected_arrival_month_raw || '''', 'empty')
                    || ' is not a month (YYYY-MM or a date)'
        end as problem,
        -- an overdue order is expected next month (greatest() alone would also fill an unreadable month)
        case
            when known.expected_arrival_month is not null
                then greatest(known.expected_arrival_month, cast(known.as_of_month + interval 1 month as date))
        end as arrival_month,
        -- may the order be open at the as-of? (a row whose status cannot be read might be)
        coalesce(known.status, '') != 'cancelled'
        and (known.received_by is null or known.received_by > known.as_of_month_end) as is_possibly_open
    from known

),

final as (

    select
        -- keys
        judged.purchase_order_id,
        judged.product_id,
        judged.as_of_month,
        -- order
        judged.order_date,
        judged.expected_arrival_month,
        judged.quantity,
        judged.status,
        judged.received_date,
        -- timing relative to the as-of month: an overdue order is expected next month
        judged.arrival_month,
        date_diff('month', judged.as_of_month, judged.arrival_month) as months_ahead,
        judged.expected_arrival_month <= judged.as_of_month as is_overdue,
        date_diff('month', judged.as_of_month, judged.arrival_month)
        <= {{ var('purchasing_lead_time_months') }} as is_within_lead_time,
        -- data quality
        judged.problem,
        judged.problem is null as is_usable
    from judged
    where judged.is_possibly_open

)

select * from final
