"""Benchmark datasets in the reference's formats: questions, gold answers and uploaded files."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

# The reference's datasets name uploaded files in front of the question, as its file agent
# words it (inference/file_tools/utils.py): "(Uploaded 1 file: ['hello.txt'])\n\nHello!".
_UPLOAD_RE = re.compile(
    r"\A\s*\(Uploaded \d+ files?: (\[.*?\])\)[ \t]*(?:(?:\r?\n)+|\Z)", re.DOTALL
)


class EvalItem(BaseModel):
    """One benchmark question, as read from the dataset and as its evaluation workflow gets it.
    `question` is without the upload prefix (re-added when the files are uploaded); `answer`
    may be "" (the reference's example sets have none)."""

    index: int
    question: str
    answer: str
    files: list[Path] = Field(default_factory=list, description="As the dataset names them.")
    uploads: dict[str, str] = Field(
        default_factory=dict, description="File name -> blob digest, once uploaded."
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_uploads(cls, data: Any) -> Any:
        """Evaluation inputs recorded before this model held only the digests, as `files`."""
        if isinstance(data, dict) and isinstance(data.get("files"), dict):
            data = {**data, "uploads": data["files"], "files": []}
        return data


def _question(item: dict[str, Any]) -> str:
    """The item's question; failing that, run_multi_react.py's fallback: the text after "User:"
    in the second message (datasets saved as chat transcripts)."""
    question = item.get("question")
    text = question.strip() if isinstance(question, str) else ""
    if text:
        return text
    try:
        content = item["messages"][1]["content"]
    except (KeyError, IndexError, TypeError):
        return ""
    if not isinstance(content, str):
        return ""
    return content.split("User:")[1].strip() if "User:" in content else content.strip()


def _answer(value: Any) -> str:
    """Gold answers are text; numbers (as some GAIA exports store them) are read as text."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(type(value).__name__)
    return str(value)


def split_uploads(question: str) -> tuple[str, list[str]]:
    """The question without its "(Uploaded N file: [...])" prefix, and the file names it lists."""
    match = _UPLOAD_RE.match(question)
    if match is None:
        return question, []
    try:
        names = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
        return question, []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return question, []
    return question[match.end() :].strip(), names


def _resolve(name: str, files_dir: Path, where: str) -> Path:
    """An uploaded file inside `files_dir` (the reference's file_corpus); names that climb out
    of it are refused, since a dataset is input we did not write."""
    root = files_dir.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ValueError(f"{where}: uploaded file {name!r} is outside {files_dir}")
    if not path.is_file():
        raise ValueError(f"{where}: uploaded file {name!r} not found in {files_dir}")
    return path


def _read(path: Path) -> list[tuple[str, Any]]:
    """(location, item) pairs from a .json list or a .jsonl file (blank lines skipped)."""
    if not path.is_file():
        raise ValueError(f"dataset not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".jsonl"):
        raise ValueError(f"{path}: unsupported dataset format {suffix!r}; use .json or .jsonl")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read the dataset ({error})") from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: invalid JSON ({error})") from None
        if not isinstance(data, list):
            raise ValueError(f"{path}: a .json dataset must be a list of objects")
        return [(f"item {i}", item) for i, item in enumerate(data)]
    items: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: invalid JSON ({error.msg})") from None
    return items


def load_dataset(path: Path, files_dir: Path | None = None) -> list[EvalItem]:
    """Read a benchmark as run_multi_react.py does (`question`, `answer`; the messages
    fallback), resolving uploaded files against `files_dir` (default: `file_corpus/` next to the
    dataset, where the reference keeps them). Raises ValueError with a one-line message naming
    the file and the item or line at fault.

    Unlike the reference, which warns and skips an item with no question, this refuses it: an
    item dropped silently would shift every score's denominator."""
    path = Path(path)
    corpus = Path(files_dir) if files_dir is not None else path.parent / "file_corpus"
    result: list[EvalItem] = []
    for index, (where, item) in enumerate(_read(path)):
        where = f"{path}: {where}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(item).__name__}")
        question = _question(item)
        if not question:
            raise ValueError(f"{where}: no question (neither 'question' nor 'messages')")
        try:
            answer = _answer(item.get("answer"))
        except TypeError as error:
            raise ValueError(f"{where}: 'answer' must be text, not {error}") from None
        question, names = split_uploads(question)
        if not question:
            raise ValueError(f"{where}: no question after the uploaded-file prefix")
        files = [_resolve(name, corpus, where) for name in names]
        result.append(EvalItem(index=index, question=question, answer=answer, files=files))
    if not result:
        raise ValueError(f"{path}: the dataset has no items")
    return result
