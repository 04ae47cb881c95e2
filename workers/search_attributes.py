"""Custom search attributes that make sessions findable (`deepresearch list`, the Temporal UI)."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

MODEL = SearchAttributeKey.for_keyword("DeepResearchModel")
DIALECT = SearchAttributeKey.for_keyword("DeepResearchDialect")
STEPS = SearchAttributeKey.for_int("DeepResearchSteps")
TERMINATION = SearchAttributeKey.for_keyword("DeepResearchTermination")
QUESTION = SearchAttributeKey.for_text("DeepResearchQuestion")

_TYPES = {
    MODEL.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    DIALECT.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    STEPS.name: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    TERMINATION.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    QUESTION.name: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
}


async def ensure_registered(client: Client) -> bool:
    """Register the attributes where the server allows it (the dev server, self-hosted
    clusters); False when they are missing and cannot be added — sessions then run unindexed
    rather than failing on an unknown attribute."""
    namespace = client.namespace
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {k: v for k, v in _TYPES.items() if k not in listed.custom_attributes}
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
            )
    except RPCError:
        return False
    return True
