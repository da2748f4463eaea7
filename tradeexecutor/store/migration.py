"""Migration of files written by earlier versions.

Snapshots: a snapshot from a newer executor is refused rather than misread. Version 2 moved the
equity curve out of the snapshot: version 1's `valuations` list becomes the `equity` summary (the
store rebuilds the equity file from the log when it is missing).

Logs: the first log format had a CRC-32 per line and no chain. `StateStore.open` verifies such a
log in full (under the writer lock), then `migrate_log` rewrites it chained, keeping the old file
as a backup, and the store writes a sealed snapshot; readers without the lock (`show`, `replay`)
read the old format as it is.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tradeexecutor.state.state import SCHEMA_VERSION
from tradeexecutor.state.valuation import EquitySummary, ValuationPoint
from tradeexecutor.store.errors import CorruptLog, CorruptSnapshot, repair_hint
from tradeexecutor.store.eventlog import LogMark
from tradeexecutor.store.fsync import fsync_dir
from tradeexecutor.store.logline import GENESIS, body_of, seal, verify_line
from tradeexecutor.store.paths import StatePaths

#: MIGRATIONS[n] turns a version-n snapshot dict into version n+1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def _equity_summary(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2: the `valuations` list becomes the `equity` summary, in the same place."""
    valuations = raw.get("valuations")
    if not isinstance(valuations, list):
        return raw  # the shape check names the bad field
    try:
        summary = EquitySummary.of([ValuationPoint.from_dict(v) for v in valuations]).to_dict()
    except (KeyError, TypeError, ValueError, AttributeError):
        return raw
    return {("equity" if key == "valuations" else key): (summary if key == "valuations" else value)
            for key, value in raw.items()}  # fmt: skip


MIGRATIONS[1] = _equity_summary


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


def migrate_log(paths: StatePaths) -> tuple[Path, LogMark]:
    """Rewrite a log of the first format (a CRC-32 per line, no chain) in the chained format.

    The caller holds the writer lock and has verified the whole log. Each line keeps its bytes up
    to the checksum member, which becomes its link in the chain (`store/logline.py`). The new log
    is written beside the old one, fsynced, and renamed over it; the old one stays beside it as
    `ID.events.v1.jsonl.bak` (a hard link, taken before the rename), so at every moment the log
    is either the old file or the whole new one. Returns the backup and the new log's end mark.
    """
    log = paths.log
    backup = _free_name(paths.state_dir / f"{paths.executor_id}.events.v1.jsonl.bak")
    temporary = log.with_name(log.name + ".migrating")
    chain, seq, line_offset, end = GENESIS, 0, 0, 0
    with open(log, "rb", buffering=1 << 20) as source, open(temporary, "wb", buffering=1 << 20) as target:
        for seq, line in enumerate(source, start=1):
            try:
                verify_line(line, None)
            except ValueError as exc:  # verified by the caller; the lock keeps writers out
                raise CorruptLog(log, seq, end, str(exc), repair_hint(paths.state_dir, paths.executor_id)) from None
            chained, chain = seal(body_of(line), chain)
            target.write(chained)
            line_offset, end = end, end + len(chained)
        target.flush()
        os.fsync(target.fileno())
    try:
        os.link(log, backup)
    except OSError:
        shutil.copy2(log, backup)
    os.replace(temporary, log)
    fsync_dir(paths.state_dir)
    return backup, LogMark(seq, chain, line_offset, end)


def _free_name(path: Path) -> Path:
    candidate, counter = path, 1
    while candidate.exists():
        counter += 1
        candidate = path.with_name(f"{path.name}.{counter}")
    return candidate
