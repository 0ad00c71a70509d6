-- Compare two forecasting configurations recorded in the model registry (for example a run with
-- other LightGBM parameters or baseline weights): backtest WAPE, MASE, bias and coverage per model,
-- side by side, for the as-of months both configurations ran. Compile with
--   dbt compile --select compare_registry_configurations --vars '{config_a: "<hash>", config_b: "<hash>"}'
-- and run the SQL from target/compiled/ against the warehouse.
with registry as (
    select * from {{ ref('fct_model_registry') }}
),

a as (
    select * from registry
    where config_hash = '{{ var("config_a", "") }}'
),

b as (
    select * from registry
    where config_hash = '{{ var("config_b", "") }}'
)

select
    a.as_of_month,
    a.model_name,
    a.wape as wape_a,
    b.wape as wape_b,
    b.wape - a.wape as wape_change,
    a.mase as mase_a,
    b.mase as mase_b,
    a.bias as bias_a,
    b.bias as bias_b,
    a.coverage_80 as coverage_a,
    b.coverage_80 as coverage_b,
    a.fit_seconds as fit_seconds_a,
    b.fit_seconds as fit_seconds_b
from a
inner join b
    on
        a.as_of_month = b.as_of_month
        and a.model_name = b.model_name
order by a.as_of_month, a.model_name
