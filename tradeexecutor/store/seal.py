"""The snapshot's seal: which log it continues, and a digest of its own bytes.

A sealed snapshot is the state's JSON object with three members added at its end:

    {...the state...,"log_chain":"<16 hex>","log_offset":N,"digest":"<64 hex>"}

`log_chain` is the chain value of the log line at the snapshot's `last_event_seq` (see
`store/logline.py`; 16 zeros at seq 0) and `log_offset` the byte offset where that line starts, a
hint that lets start-up read it without reading the lines before it. `digest` is the SHA-256 of
every byte before `,"digest"`, so an edit anywhere in the snapshot, the seal included, is seen at
start-up without encoding the state again. The file stays plain JSON for JavaScript clients
(which ignore the three members); a snapshot without them (written before the chain, or
re-formatted by a tool) is read too, and start-up then verifies it against the whole log.
"""

from __future__ import annotations

from binascii import hexlify, unhexlify
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256

#: The members a seal adds to the state's JSON object.
SEAL_MEMBERS = ("log_chain", "log_offset", "digest")

_DIGEST = b',"digest":"'
_CHAIN = b',"log_chain":"'
_OFFSET = b'","log_offset":'
_TRAILER = len(_DIGEST) + 64 + 2  # ,"digest":"<64 hex>"}


@dataclass(slots=True, frozen=True)
class Seal:
    """What a snapshot's seal says: the chain value at its seq and the offset of that line, and
    whether the digest matches the bytes."""

    chain: bytes
    offset: int
    intact: bool


def seal(state_json: bytes, chain: bytes, offset: int) -> bytes:
    """The snapshot bytes for `state_json` (a JSON object, as `dump_state` gives it), sealed."""
    return b"".join(seal_pieces([state_json], chain, offset))


def seal_pieces(state_json: Sequence[bytes], chain: bytes, offset: int) -> list[bytes | memoryview]:
    """`seal` of the state's JSON given in pieces (joined, they are the JSON object), as pieces:
    the state is hashed where it lies and never copied, so a big snapshot is written from them."""
    last = state_json[-1] if state_json else b""
    if last[-1:] != b"}" or sum(map(len, state_json)) <= 2:
        raise ValueError("a snapshot is a non-empty JSON object")
    members = b"%s%s%s%d" % (_CHAIN, hexlify(chain), _OFFSET, offset)
    pieces: list[bytes | memoryview] = [*state_json[:-1], memoryview(last)[:-1], members]
    digest = sha256()
    for piece in pieces:
        digest.update(piece)
    return [*pieces, _DIGEST, digest.hexdigest().encode(), b'"}']


def unseal(data: bytes) -> tuple[bytes, Seal | None]:
    """The state's JSON bytes (as they were before sealing) and the seal; `(data, None)` for a
    snapshot that has none. A seal whose digest does not match is returned with `intact=False`."""
    body = data.rstrip()
    start = len(body) - _TRAILER
    if start <= 0 or body[start : start + len(_DIGEST)] != _DIGEST or body[-2:] != b'"}':
        return data, None
    head = body[:start]
    stored = body[start + len(_DIGEST) : -2]
    intact = sha256(head).hexdigest().encode() == stored
    at = head.rfind(_CHAIN)
    middle = head.find(_OFFSET, at)
    if at < 0 or middle != at + len(_CHAIN) + 16 or not head[middle + len(_OFFSET) :].isdigit():
        return data, None
    try:
        chain = unhexlify(head[at + len(_CHAIN) : middle])
    except ValueError:
        return data, None
    offset = int(head[middle + len(_OFFSET) :])
    return head[:at] + b"}", Seal(chain, offset, intact)
