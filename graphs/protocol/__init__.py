"""Model dialects: render internal messages into a prompt, parse a completion into actions."""

from __future__ import annotations

from langchain_core.messages import AIMessage

from graphs.protocol import openai_tools, tongyi

DIALECTS = {"tongyi": tongyi, "openai": openai_tools}


def answer_of(message: AIMessage) -> str | None:
    """The final answer a turn gives, or None: the openai dialect marks it when parsing (a reply
    without tool calls); the tongyi one is the text inside <answer></answer>."""
    if "answer" in message.additional_kwargs:
        return message.additional_kwargs["answer"]
    return tongyi.extract_answer(str(message.content))


__all__ = ["DIALECTS", "answer_of", "openai_tools", "tongyi"]
