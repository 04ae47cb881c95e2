"""Webhook signing against the Standard Webhooks specification's own test vector and an
independent verifier (the `standardwebhooks` package), and the secret setting's forms."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from activities.errors import ConfigurationError
from activities.webhooks import encode, parse_secret, parse_secrets, sign

# The specification's example (standard-webhooks/spec, "Signature scheme"; the libraries'
# own tests use it too)
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_spec_test_vector() -> None:
    key = parse_secret(SPEC_SECRET, "X")
    assert sign(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_an_independent_verifier_accepts_ours_and_refuses_a_changed_body() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    body = encode({"type": "session.completed", "data": {"answer": "Ünïcode — fine"}})
    stamp = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(parse_secret(secret, "X"), "msg_1", stamp, body),
    }
    assert Webhook(secret).verify(body, headers)["data"]["answer"] == "Ünïcode — fine"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "msg_2"})


def test_secret_forms() -> None:
    one = "whsec_" + base64.b64encode(b"a" * 32).decode()
    two = "whsec_" + base64.b64encode(b"b" * 20).decode()  # ends in '=' padding
    assert parse_secrets(one) == {"*": b"a" * 32}
    assert parse_secrets(f"alpha={one}, {two}") == {"alpha": b"a" * 32, "*": b"b" * 20}
    for raw, message in (
        ("secret", "write whsec_... or TENANT=whsec_..."),
        ("alpha=abc", "a secret starts with whsec_"),
        ("whsec_***", "whsec_ is not followed by base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "the secret has under 16 bytes"),
        (f"{one},{two}", "a second secret for '*'"),
    ):
        with pytest.raises(ConfigurationError) as caught:
            parse_secrets(raw)
        assert str(caught.value).endswith(message), raw
        assert str(caught.value).startswith("invalid setting DEEPRESEARCH_WEBHOOK_SECRET (entry")
