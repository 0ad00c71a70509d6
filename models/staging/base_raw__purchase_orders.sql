-- The raw purchase_orders file(s) exactly as they arrive, as a view (Elementary watches its schema);
-- an empty relation with the contract's columns when the optional folder holds no file.
{{ optional_raw_source('purchase_orders', {
    'purchase_order_id': 'varchar',
    'product_id': 'varchar',
    'order_date': 'date',
    'expected_arrival_month': 'date',
    'quantity': 'bigint',
    'status': 'varchar',
    'received_date': 'date',
    'loaded_at': 'timestamp',
}) }}
