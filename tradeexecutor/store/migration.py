"""Schema migration of snapshots. Version 1 is the first layout, so there is nothing to migrate yet;
a snapshot from a newer executor is refused rather than misread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tradeexecutor.state.state import SCHEMA_VERSION
from tradeexecutor.store.errors import CorruptSnapshot

#: MIGRATIONS[n] turns a version-n snapshot dict into version n+1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def migrate(raw: dict[str, Any], source: str) -> dict[str, Any]:
    version = raw.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise CorruptSnapshot(f"{source} has an invalid schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise CorruptSnapshot(
            f"{source} has schema_version {version}, newer than this executor's {SCHEMA_VERSION}; "
            "upgrade tradeexecutor to read it"
        )
    while version < SCHEMA_VERSION:
        raw = MIGRATIONS[version](raw)
        version += 1
        raw["schema_version"] = version
    return raw
