"""`deepresearch eval`'s datasets, metrics, charts and result files."""
