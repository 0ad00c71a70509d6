-- The raw ordering_rules file(s) exactly as they arrive, as a view (Elementary watches its schema);
-- an empty relation with the contract's columns when the optional folder holds no file.
{{ optional_raw_source('ordering_rules', {
    'product_id': 'varchar',
    'pack_size': 'bigint',
    'min_order_qty': 'bigint',
    'unit_cost': 'double',
    'holding_cost_rate': 'double',
    'loaded_at': 'timestamp',
}) }}
