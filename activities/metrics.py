"""Our counters, on the same meter (and Prometheus endpoint) as Temporal's SDK metrics."""

from __future__ import annotations

from temporalio import activity


def count(name: str, value: int = 1, **labels: str) -> None:
    """Add to a counter when running inside an activity (activity code is also run in tests)."""
    if value and activity.in_activity():
        meter = activity.metric_meter()
        meter.create_counter(f"deepresearch_{name}").add(value, labels)
