"""README's "When things go wrong" quotes messages of the code: each quoted fragment that reads as a
message must still be written somewhere in thz/ or stages/, so the quotes cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("dvc ", "python ", "THZ_", ".dvcignore", "-S ")  # quoted commands and names, not messages


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## When things go wrong", 1)[1].split("\n## ", 1)[0]


def _quoted_messages() -> list[str]:
    quotes = re.findall(r"`([^`]+)`", _section().replace("\n  ", " "))
    settings = re.compile(r"^[\w.]+: \w+$")  # `data.strict: false` is a setting, not a message
    return [q for q in quotes if not q.startswith(COMMANDS) and " " in q and not settings.match(q)]


def _source() -> str:
    files = [*(ROOT / "thz").rglob("*.py"), *(ROOT / "stages").glob("*.py")]
    return re.sub(r'"\s*\n\s*f?"', "", "\n".join(p.read_text() for p in files))  # join split f-strings


def test_every_quoted_message_is_one_the_code_writes():
    messages, source = _quoted_messages(), _source()
    assert len(messages) >= 8
    for message in messages:
        # a quoted dotted key ('train.lr', 'budget.student.epochs') is the example's, not the code's
        fragments = [
            f for f in re.split(r"\.\.\.|models/fold_0/baseline/last\.pt|'[a-z_]+(?:\.\w+)+'", message) if f.strip()
        ]
        assert all(f in source for f in fragments), f"README quotes a message the code no longer writes: {message}"
