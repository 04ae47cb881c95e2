"""`/v1/schedules`: `deepresearch schedule` over HTTP, tenant by tenant (another tenant's
schedule answers 404, exactly as one that does not exist)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workers.api.routes import ERRORS, CallerDep, authenticated, sessions
from workers.api.schemas import SESSION_ID
from workers.boundary.keys import Caller
from workers.client import InvalidRequest
from workers.client.inputs import WebhookRequest, one_line
from workers.client.schedules import ScheduleOptions, Schedules, ScheduleView

router = APIRouter(prefix="/v1/schedules", dependencies=[Depends(authenticated)], responses=ERRORS)


class ScheduleRequest(BaseModel):
    """A new schedule: the question and its clock (one of `every`, `cron`)."""

    model_config = ConfigDict(extra="forbid")

    question: str
    every: str | None = Field(None, description="An interval: 90s, 30m, 12h, 1d.")
    cron: str | None = Field(None, description="A cron expression (UTC), e.g. '0 8 * * MON'.")
    report: bool = Field(False, description="Write a long report each run.")
    mode: Literal["react", "heavy"] = Field("react", description="One loop, or Heavy mode.")
    branches: int = Field(3, ge=1, le=16, description="Heavy mode's parallel branches.")
    webhook: WebhookRequest | None = Field(
        None, description="Where runs are announced (its events follow `notify`)."
    )
    notify: Literal["changed", "always"] = Field(
        "changed",
        description="changed: a `changed` webhook only when a run differs from the "
        "run before; always: `completed` every run.",
    )
    id: str | None = Field(None, pattern=SESSION_ID, description="Schedule id (else generated).")


class ScheduleList(BaseModel):
    schedules: list[ScheduleView]


def schedules(request: Request) -> Schedules:
    return Schedules(sessions(request))


SchedulesDep = Annotated[Schedules, Depends(schedules)]


async def mine(
    schedule_id: str, request: Request, caller: Annotated[Caller, Depends(authenticated)]
) -> str:
    """The path's schedule id once the caller may see it."""
    await schedules(request).check_access(caller, schedule_id)
    return schedule_id


Mine = Annotated[str, Depends(mine)]


@router.post("", status_code=201, response_model=ScheduleView, summary="Create a schedule")
async def create(body: ScheduleRequest, found: SchedulesDep, caller: CallerDep) -> ScheduleView:
    """Each run is a session of the caller's tenant, compared with the run before it."""
    try:
        options = ScheduleOptions(**body.model_dump(exclude_none=True), tenant=caller.tenant)
    except ValidationError as error:
        raise InvalidRequest(one_line(error)) from None
    return await found.create(options)


@router.get("", response_model=ScheduleList, summary="List schedules")
async def list_schedules(
    found: SchedulesDep,
    caller: CallerDep,
    tenant: Annotated[str | None, Query(description="Admins: only this tenant's.")] = None,
) -> ScheduleList:
    return ScheduleList(schedules=await found.list(tenant if caller.admin else caller.tenant))


@router.get("/{schedule_id}", response_model=ScheduleView, summary="One schedule and its runs")
async def show(schedule_id: Mine, found: SchedulesDep) -> ScheduleView:
    return await found.show(schedule_id)


@router.post("/{schedule_id}/pause", response_model=ScheduleView, summary="No more runs")
async def pause(schedule_id: Mine, found: SchedulesDep) -> ScheduleView:
    return await found.pause(schedule_id)


@router.post("/{schedule_id}/unpause", response_model=ScheduleView, summary="Runs again")
async def unpause(schedule_id: Mine, found: SchedulesDep) -> ScheduleView:
    return await found.unpause(schedule_id)


@router.post("/{schedule_id}/trigger", response_model=ScheduleView, summary="A run now")
async def trigger(schedule_id: Mine, found: SchedulesDep) -> ScheduleView:
    return await found.trigger(schedule_id)


@router.delete("/{schedule_id}", status_code=204, summary="Delete it (its runs stay)")
async def delete(schedule_id: Mine, found: SchedulesDep) -> Response:
    await found.delete(schedule_id)
    return Response(status_code=204)
