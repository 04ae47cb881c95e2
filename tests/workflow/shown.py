"""Reading `temporal workflow show -o json` output: the payloads it carries."""

from __future__ import annotations

import base64
import json


def payload_texts(output: str) -> list[str]:
    """Every payload's `data` in the history JSON, base64-decoded to text."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "data" and isinstance(value, str):
                    found.append(base64.b64decode(value).decode("utf-8", "replace"))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(output))
    return found
