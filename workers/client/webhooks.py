"""How a session's webhook messages fared (`show`, the API): each is a WebhookWorkflow that the
session's history names as a child; its own state says delivered, still trying, or given up."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHistory
from temporalio.service import RPCError

from activities.webhooks import Delivered
from workers.workflows.research import root_message

WEBHOOK_WORKFLOW = "WebhookWorkflow"


class DeliveryState(BaseModel):
    event: str
    id: str
    state: Literal["delivering", "delivered", "failed"]
    attempts: int = 0
    http_status: int | None = None
    error: str | None = None


def sent_ids(histories: list[WorkflowHistory]) -> list[tuple[str, str]]:
    """(event, delivery id) of every message the session's runs started, in order."""
    found = []
    for history in histories:
        for event in history.events:
            if not event.HasField("start_child_workflow_execution_initiated_event_attributes"):
                continue
            started = event.start_child_workflow_execution_initiated_event_attributes
            if started.workflow_type.name != WEBHOOK_WORKFLOW:
                continue
            name = started.workflow_id.rsplit("-webhook-", 1)[-1].rsplit("-", 2)[0]
            found.append((name, started.workflow_id))
    return found


async def delivery_state(client: Client, event: str, delivery_id: str) -> DeliveryState:
    handle = client.get_workflow_handle(delivery_id, result_type=Delivered)
    try:
        description = await handle.describe()
    except RPCError as error:
        return DeliveryState(event=event, id=delivery_id, state="failed", error=error.message)
    if description.status == WorkflowExecutionStatus.RUNNING:
        pending = description.raw_description.pending_activities
        last = pending[0] if pending else None
        return DeliveryState(
            event=event,
            id=delivery_id,
            state="delivering",
            attempts=last.attempt if last else 0,
            error=last.last_failure.message if last and last.HasField("last_failure") else None,
        )
    try:
        done = await handle.result()
    except WorkflowFailureError as error:
        return DeliveryState(event=event, id=delivery_id, state="failed", error=root_message(error))
    return DeliveryState(
        event=event,
        id=delivery_id,
        state="delivered",
        attempts=done.attempts,
        http_status=done.status,
    )


async def deliveries(client: Client, histories: list[WorkflowHistory]) -> list[dict[str, Any]]:
    return [
        (await delivery_state(client, event, delivery_id)).model_dump()
        for event, delivery_id in sent_ids(histories)
    ]
