"""Webhooks: each message a child workflow of the session (WebhookWorkflow), abandoned when the
session closes, that retries its delivery activity for hours with the same `webhook-id`. The
session never waits for a receiver; its history names every message it sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import EVENTS, Delivered, Delivery, Event

ATTEMPT_TIMEOUT = timedelta(seconds=60)
MAX_BACKOFF = timedelta(hours=1)
ANSWER_CHARS = 1_000  # the body carries the start of the answer; the links lead to the rest


class WebhookSpec(BaseModel):
    """Where a session announces what happens to it, and which of its events."""

    url: str
    events: list[Event] = Field(default_factory=lambda: list(EVENTS))
    links: str = Field("", description="The API's public address, for the body's links.")
    hours: float = Field(24, gt=0, description="How long one message is retried.")


class WebhookRun(BaseModel):
    delivery: Delivery
    hours: float = 24
    retry_initial_seconds: float = 1.0


class Sent(BaseModel):
    """A message the session sent: its event and the id of its delivery (workflow)."""

    event: str
    id: str


@workflow.defn(name="WebhookWorkflow")
class WebhookWorkflow:
    @workflow.run
    async def run(self, run: WebhookRun) -> Delivered:
        return await workflow.execute_activity(
            "webhook.deliver",
            run.delivery,
            result_type=Delivered,
            start_to_close_timeout=ATTEMPT_TIMEOUT,
            schedule_to_close_timeout=timedelta(hours=run.hours),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=run.retry_initial_seconds),
                backoff_coefficient=2.0,
                maximum_interval=MAX_BACKOFF,
            ),
            summary=f"webhook to {run.delivery.url[:80]}",
        )


def message(event: str, spec: WebhookSpec, data: dict[str, Any]) -> dict[str, Any]:
    """The body (Standard Webhooks' `type`, `timestamp`, `data`): what happened, the start of
    the answer and links, never a secret."""
    session_id = workflow.info().workflow_id
    base = spec.links.rstrip("/")
    answer = str(data.get("answer") or "")
    return {
        "type": f"session.{event}",
        "timestamp": workflow.now().isoformat(),
        "data": {
            "session_id": session_id,
            "event": event,
            **{k: v for k, v in data.items() if k != "answer"},
            "answer": answer[:ANSWER_CHARS],
            "answer_truncated": len(answer) > ANSWER_CHARS,
            "links": {
                "session": f"{base}/v1/sessions/{session_id}",
                "page": f"{base}/sessions/{session_id}",
            },
        },
    }


async def announce(
    spec: WebhookSpec | None,
    tenant: str,
    event: str,
    sent: list[dict[str, str]],
    retry_initial_seconds: float,
    **data: Any,
) -> None:
    """Send `event` when the session's webhook asks for it: start its delivery (and wait only
    for the start), and add it to `sent`."""
    if spec is None or event not in spec.events:
        return
    info = workflow.info()
    delivery_id = f"{info.workflow_id}-webhook-{event}-{info.run_id[:8]}-{len(sent)}"
    await workflow.start_child_workflow(
        WebhookWorkflow.run,
        WebhookRun(
            delivery=Delivery(
                webhook_id=delivery_id,
                url=spec.url,
                tenant=tenant,
                body=message(event, spec, data),
            ),
            hours=spec.hours,
            retry_initial_seconds=retry_initial_seconds,
        ),
        id=delivery_id,
        task_queue=info.task_queue,
        parent_close_policy=ParentClosePolicy.ABANDON,
        static_summary=f"webhook: {event}",
    )
    sent.append(Sent(event=event, id=delivery_id).model_dump())
