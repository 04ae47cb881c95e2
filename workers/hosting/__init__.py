"""What runs: the research worker, the inference worker (pool), the codec server and the
embedded Temporal dev server."""
