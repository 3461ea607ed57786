-- Drill-down stats (one route's components, one component's routes) cannot use the narrow
-- rollups of 0007 and sum event_counts_hour, which is keyed by project then bucket: a query
-- over every project read each hour's combinations to keep one route's (40-48 ms p95 at 1 M
-- events in the query benchmark, BENCHMARKS.md). These two indexes start at the filtered value.
-- A rollup row changes by `n = n + 1` after its first insert, which touches neither index.
CREATE INDEX event_counts_hour_route ON event_counts_hour (route, bucket);
CREATE INDEX event_counts_hour_component ON event_counts_hour (component, bucket);
