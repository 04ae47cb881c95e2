"""Webhook delivery, signed as the Standard Webhooks specification says (standardwebhooks.com):
`webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`, the secret in its `whsec_<base64>` form. One delivery attempt per
activity attempt: Temporal retries it (the same id every time, so receivers de-duplicate)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import context
from activities.errors import ConfigurationError, ToolError, from_transport, raise_for_http
from activities.netguard import check_url, pinned

SECRET_PREFIX = "whsec_"
ANY_TENANT = "*"
# What a session can announce (`changed`: a scheduled run that differs from the one before).
Event = Literal[
    "completed", "failed", "cancelled", "awaiting_approval", "awaiting_budget", "changed"
]
EVENTS: tuple[Event, ...] = (
    "completed",
    "failed",
    "cancelled",
    "awaiting_approval",
    "awaiting_budget",
    "changed",
)
POST_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class Delivery(BaseModel):
    """One message: the same `webhook_id` on every attempt; the secret is not in it (the
    worker holds the secrets, so no history carries one)."""

    webhook_id: str
    url: str
    tenant: str = "default"
    body: dict[str, Any] = Field(default_factory=dict)


class Delivered(BaseModel):
    status: int
    attempts: int


def parse_secret(value: str, where: str) -> bytes:
    """The key bytes of a `whsec_<base64>` secret."""
    text = value.strip()
    if not text.startswith(SECRET_PREFIX):
        raise ConfigurationError(f"invalid setting {where}: a secret starts with whsec_")
    try:
        key = base64.b64decode(text.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"invalid setting {where}: whsec_ is not followed by base64"
        ) from None
    if len(key) < 16:
        raise ConfigurationError(f"invalid setting {where}: the secret has under 16 bytes")
    return key


def parse_secrets(raw: str) -> dict[str, bytes]:
    """DEEPRESEARCH_WEBHOOK_SECRET: one `whsec_...` for every tenant, or `TENANT=whsec_...`
    entries, comma-separated (a bare one is every other tenant's)."""
    found: dict[str, bytes] = {}
    for number, entry in enumerate((e.strip() for e in raw.split(",") if e.strip()), start=1):
        where = f"DEEPRESEARCH_WEBHOOK_SECRET (entry {number})"
        if entry.startswith(SECRET_PREFIX):
            name, secret = ANY_TENANT, entry
        else:
            tenant, equals, secret = entry.partition("=")
            name = tenant.strip()
            plain = name.replace("-", "").replace("_", "").replace(".", "")
            if not equals or not plain.isalnum():
                raise ConfigurationError(
                    f"invalid setting {where}: write whsec_... or TENANT=whsec_..."
                )
        if name in found:
            raise ConfigurationError(f"invalid setting {where}: a second secret for {name!r}")
        found[name] = parse_secret(secret, where)
    return found


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@activity.defn(name="webhook.deliver")
async def deliver(delivery: Delivery) -> Delivered:
    """POST the message once: 2xx delivers it; 408, 429 and 5xx (and a network failure) are
    retried with the same id; any other answer, or a URL the network guard refuses, ends the
    delivery (non-retryable)."""
    ctx = context.current()
    secrets = ctx.webhook_secrets
    key = secrets.get(delivery.tenant) or secrets.get(ANY_TENANT)
    if key is None:
        raise ApplicationError(
            "no webhook secret on this worker: set DEEPRESEARCH_WEBHOOK_SECRET",
            type="ConfigurationError",
            non_retryable=True,
        )
    try:
        address = await check_url(delivery.url, allow_loopback=ctx.allow_loopback)
    except ToolError as error:
        raise ApplicationError(
            f"webhook {error}", type="WebhookRefused", non_retryable=True
        ) from None
    body = encode(delivery.body)
    stamp = int(time.time())
    target, headers, extensions = pinned(delivery.url, address)
    headers |= {
        "content-type": "application/json",
        "user-agent": "deepresearch-webhooks/0.1",
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(key, delivery.webhook_id, stamp, body),
    }
    try:
        response = await ctx.http.post(
            target,
            content=body,
            headers=headers,
            extensions=extensions,
            follow_redirects=False,
            timeout=POST_TIMEOUT,
        )
    except httpx.HTTPError as error:
        raise from_transport("webhook receiver", error) from error
    if 300 <= response.status_code < 400:
        raise ApplicationError(
            f"webhook receiver answered HTTP {response.status_code}: redirects are not followed",
            type=f"HTTP{response.status_code}",
            non_retryable=True,
        )
    raise_for_http("webhook receiver", response)
    return Delivered(status=response.status_code, attempts=activity.info().attempt)
