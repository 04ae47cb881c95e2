"""Custom search attributes that make sessions findable (`deepresearch list`, the Temporal UI):
the keys, their types, and the one upsert every workflow uses."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey

MODEL = SearchAttributeKey.for_keyword("DeepResearchModel")
DIALECT = SearchAttributeKey.for_keyword("DeepResearchDialect")
STEPS = SearchAttributeKey.for_int("DeepResearchSteps")
TERMINATION = SearchAttributeKey.for_keyword("DeepResearchTermination")
QUESTION = SearchAttributeKey.for_text("DeepResearchQuestion")
TENANT = SearchAttributeKey.for_keyword("DeepResearchTenant")  # set by the client at start
# a follow-up's earlier session (set by the client at start): an earlier session's follow-ups
FOLLOW_UP_OF = SearchAttributeKey.for_keyword("DeepResearchFollowUpOf")
# a fork's original session (set by the client at start): a session's forks
FORK_OF = SearchAttributeKey.for_keyword("DeepResearchForkOf")
# a scheduled run's schedule (set by the schedule's action): a schedule's runs
SCHEDULE = SearchAttributeKey.for_keyword("DeepResearchSchedule")

TYPES = {
    MODEL.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    DIALECT.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    STEPS.name: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    TERMINATION.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    QUESTION.name: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    TENANT.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    FOLLOW_UP_OF.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SCHEDULE.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    FORK_OF.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


def upsert(indexed: bool, *updates: Any) -> None:
    """Set attributes where the server indexes them (the client checked at start); a server
    without them would fail the workflow task on an unknown attribute."""
    if indexed:
        workflow.upsert_search_attributes(list(updates))


def upsert_session(indexed: bool, model: str, protocol: str, question: str) -> None:
    """What a new session is findable by: model, dialect and its question."""
    upsert(
        indexed,
        MODEL.value_set(model or "unknown"),
        DIALECT.value_set(protocol),
        QUESTION.value_set(question[:1000]),
    )


def upsert_termination(indexed: bool, termination: str) -> None:
    upsert(indexed, TERMINATION.value_set(termination or "unknown"))
