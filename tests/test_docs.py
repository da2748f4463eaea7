"""Documentation that must stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

from tradeexecutor.state.events import EVENT_TYPES

ROOT = Path(__file__).resolve().parent.parent


def test_event_catalogue_lists_every_event_type_once() -> None:
    text = (ROOT / "docs" / "events.md").read_text()
    listed = re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE)
    assert sorted(listed) == sorted(EVENT_TYPES), "docs/events.md is out of step with tradeexecutor.state.events"


def test_event_catalogue_fields_match_the_dataclasses() -> None:
    import dataclasses

    text = (ROOT / "docs" / "events.md").read_text()
    for type_name, fields in re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", text, flags=re.MULTILINE):
        documented = [name.split(" ")[0] for name in fields.split(", ")]
        actual = [f.name for f in dataclasses.fields(EVENT_TYPES[type_name]) if f.name != "at"]
        assert documented == actual, type_name
