"""One line of the event log: its format, how it is sealed into the hash chain, how it is checked.

A line (format 2) is the JSON object

    {"seq":N,"type":T,"at":A,"data":{...},"chain":"<16 hex digits>"}

where `chain` is the line's link in a hash chain through the whole log:

    chain(N) = first 8 bytes of SHA-256( chain(N-1) as 8 raw bytes  ||  the line's bytes before `,"chain"` )

and chain(0), before the first line, is 8 zero bytes (`GENESIS`). Each line is therefore checked
against its predecessor as it is read (a flipped byte, a torn write or a record swapped in from
elsewhere fails there), and the value on line N stands for every byte of lines 1..N: the snapshot
records it, so start-up can tell in O(1) whether the log it continues is the one it was taken from.
SHA-256 because every JavaScript runtime has it built in (`crypto.subtle`), and this machine's
CPU hashes a 200-byte line in well under a microsecond; 64 bits so that a different history
matching by chance (1 in 2^64) is out of the question. It is not a signature: whoever can write
the files can compute it too.

Format 1 (tradeexecutor 0.1.0 before the chain, up to commit 186c71c) ended each line with `"crc":"<8 hex>"`, a CRC-32 of
the same bytes, with no chain. Such logs are still read (`verify_line` accepts them) so that
`StateStore.open` can verify and migrate them; see `store/migration.py`.

The line stays plain JSON for `jq` and JavaScript clients, and everything is checked on the bytes
as read, without re-serialising.
"""

from __future__ import annotations

import zlib
from binascii import hexlify, unhexlify
from collections.abc import Iterable
from hashlib import sha256
from typing import Any

import orjson

from tradeexecutor.state.codec import encode_head
from tradeexecutor.state.events import Event

#: The chain value before the first line.
GENESIS = bytes(8)

CHAIN_PREFIX = b',"chain":"'
#: Bytes after a line's body: `,"chain":"` + 16 hex digits + `"}` + the line end.
CHAIN_TAIL = len(CHAIN_PREFIX) + 16 + 3

CRC_PREFIX = b',"crc":"'
CRC_TAIL = len(CRC_PREFIX) + 8 + 3  # format 1: ,"crc":"xxxxxxxx"}\n


def link(prev_chain: bytes, body: bytes) -> bytes:
    """The chain value of a line whose bytes before `,"chain"` are `body`."""
    return sha256(prev_chain + body).digest()[:8]


def seal(body: bytes, prev_chain: bytes) -> tuple[bytes, bytes]:
    """The whole line (newline included) for `body` (a JSON object without its final `}`) after a
    line whose chain value is `prev_chain`, and the new line's chain value."""
    chain = sha256(prev_chain + body).digest()[:8]
    return b"%s%s%s\"}\n" % (body, CHAIN_PREFIX, hexlify(chain)), chain


def encode_line(seq: int, event: Event, prev_chain: bytes) -> bytes:
    """One log line, newline included, following a line whose chain value is `prev_chain`
    (`GENESIS` for seq 1). Raises SerialisationError for a value JSON cannot hold."""
    return seal(encode_head(seq, event), prev_chain)[0]


def encode_lines(events: Iterable[Event], start_seq: int = 1, prev_chain: bytes = GENESIS) -> bytes:
    """Consecutive log lines for `events`, numbered from `start_seq` and chained from `prev_chain`
    (the chain value of line `start_seq - 1`; `GENESIS` for a new log). The bytes of a whole log
    or of a run of lines to append; `chain_of` on the last line gives the value to continue from.
    Public and stable: repair re-chains with it."""
    lines = []
    chain = prev_chain
    for seq, event in enumerate(events, start=start_seq):
        line, chain = seal(encode_head(seq, event), chain)
        lines.append(line)
    return b"".join(lines)


def chain_of(line: bytes) -> bytes:
    """The chain value written on a line (format 2), not checked; ValueError if there is none."""
    end = len(line) - (3 if line.endswith(b"\n") else 2)
    start = end - 16
    if start < 0 or line[start - len(CHAIN_PREFIX) : start] != CHAIN_PREFIX or line[end : end + 2] != b'"}':
        raise ValueError("the record has no chain value at its end")
    try:
        return unhexlify(line[start:end])
    except ValueError:
        raise ValueError("the record's chain value is not hexadecimal") from None


def line_format(line: bytes) -> int:
    """2 for a chained line, 1 for a line of the first format (per-line CRC), 0 for neither."""
    body = line.rstrip(b"\n")
    if body[-28:-18] == CHAIN_PREFIX:
        return 2
    if body[-18:-10] == CRC_PREFIX:
        return 1
    return 0


def verify_line(line: bytes, prev_chain: bytes | None) -> dict[str, Any]:
    """Check a line against the chain value of the line before it and parse it; raises
    ValueError saying what is wrong. `prev_chain=None` reads a format 1 line (checked by its own
    CRC-32)."""
    if line[-1:] != b"\n":
        raise ValueError("the record is torn: it has no line end (the write was cut short)")
    if prev_chain is None:
        _check_crc(line)
    else:
        size = len(line) - CHAIN_TAIL
        if size <= 0 or line[size : size + 10] != CHAIN_PREFIX or line[-3:] != b'"}\n':
            if line_format(line) == 1:
                raise ValueError("the record is in the old format (a CRC, no chain) inside a chained log")
            raise ValueError("the record has no chain value at its end")
        try:
            stored = unhexlify(line[size + 10 : size + 26])
        except ValueError:
            raise ValueError("the record's chain value is not hexadecimal") from None
        actual = link(prev_chain, line[:size])
        if actual != stored:
            raise ValueError(
                f"checksum mismatch (stored {stored.hex()}, computed {actual.hex()} from the record and the "
                "chain value before it)"
            )
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the record is not valid JSON: {exc}") from None
    if type(record) is not dict:
        raise ValueError("the record is not a JSON object")
    return record


def _check_crc(line: bytes) -> None:
    size = len(line) - CRC_TAIL
    if size <= 0 or line[size : size + 8] != CRC_PREFIX or line[-3:] != b'"}\n':
        if line_format(line) == 2:
            raise ValueError("the record is chained, inside a log of the old format (a CRC per line)")
        raise ValueError("the record has no checksum at its end")
    try:
        expected = int(line[size + 8 : size + 16], 16)
    except ValueError:
        raise ValueError("the record's checksum is not hexadecimal") from None
    actual = zlib.crc32(memoryview(line)[:size])
    if actual != expected:
        raise ValueError(f"checksum mismatch (stored {expected:08x}, computed {actual:08x})")


def body_of(line: bytes) -> bytes:
    """A verified line's bytes before its checksum member (either format)."""
    return line[: len(line) - (CHAIN_TAIL if line_format(line) == 2 else CRC_TAIL)]


def seq_of(line: bytes) -> int | None:
    """The `seq` a line starts with, read without parsing the line; None if it does not."""
    if not line.startswith(b'{"seq":'):
        return None
    end = line.find(b",", 7, 40)
    digits = line[7:end] if end > 0 else b""
    return int(digits) if digits.isdigit() else None


class NeighbourCheck:
    """Checks lines in file order, each against the line before it, without trusting one damaged
    line: a line passes against the chain value written on its predecessor or the one computed
    for it, so a damaged line fails alone and its intact successor still verifies (even when the
    damage hit the predecessor's chain value itself). For repair, which reads past damage;
    `chained=False` checks first-format lines each by its own CRC."""

    def __init__(self, chained: bool = True) -> None:
        self.chained = chained
        self.candidates: list[bytes] = [GENESIS]

    def verify(self, line: bytes) -> dict[str, Any]:
        """`verify_line` against the line before; raises its ValueError when none fits."""
        if not self.chained:
            return verify_line(line, None)
        error: ValueError | None = None
        body = line[: len(line) - CHAIN_TAIL]
        for candidate in self.candidates:
            try:
                raw = verify_line(line, candidate)
            except ValueError as exc:
                error = error or exc
                continue
            self.candidates = [link(candidate, body)]
            return raw
        try:
            written = [chain_of(line)]
        except ValueError:
            written = []
        self.candidates = list(dict.fromkeys(written + [link(c, body) for c in self.candidates]))[:4]
        assert error is not None
        raise error
