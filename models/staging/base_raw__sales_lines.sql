-- The raw sales_lines file(s) exactly as they arrive, as a view: Elementary's schema_changes watches this
-- view, because it cannot describe a file read (read_parquet / read_csv) directly.
select * from {{ source('raw', 'sales_lines') }}
