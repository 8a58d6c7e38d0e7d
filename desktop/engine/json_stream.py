"""Reading a large JSON export one conversation at a time.

A ChatGPT export of a few years is hundreds of megabytes of one JSON array; loading
it whole holds the text and its objects at once. This reader decodes the bytes in
chunks and hands out the array's elements one by one (each parsed by the C decoder),
so memory stays near the size of the largest conversation.

It reads a top-level array (ChatGPT, Open WebUI), or a top-level object whose
``"conversations"`` member is an array (RouteDesk); the object's other members are
its ``header``. Any other top-level object is handed out whole, as one element.
Damage anywhere (bad syntax, a cut-off end, text that isn't UTF-8) raises
:class:`DamagedFile` at the point it is met, so a caller working in one transaction
can roll back everything it did.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["DamagedFile", "JsonStream"]

_WS = re.compile(r"[ \t\n\r]*")
_CHUNK = 1 << 18  # bytes per read
_NEAR_END = 32  # a decode error this close to the buffer's end may only mean "read more"


def _cut_at(text: str, exc: json.JSONDecodeError) -> bool:
    """At the end of the file: did the decoder stop because the text ran out?"""
    if exc.msg.startswith("Unterminated string"):
        return True
    tail = text[exc.pos :].strip()
    return tail == "" or (len(tail) < 6 and any(w.startswith(tail) for w in ("true", "false", "null"))) or (
        len(tail) < 40 and all(c in "0123456789+-.eE" for c in tail)
    )


class DamagedFile(ValueError):
    """The file is not complete, valid JSON. ``truncated``: it ends too early."""

    def __init__(self, message: str, *, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


class JsonStream:
    def __init__(self, raw: IO[bytes], *, chunk: int = _CHUNK) -> None:
        self._raw = raw
        self._chunk = chunk
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._json = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._offset = 0  # characters dropped from the front of the buffer
        self._eof = False
        self._first = True
        #: bytes read from ``raw`` so far (progress)
        self.bytes_read = 0
        #: the top-level object's members other than "conversations" (RouteDesk)
        self.header: dict[str, Any] = {}
        #: "array" or "object", once the first character has been read
        self.shape = ""

    # --- buffer -----------------------------------------------------------------

    def _fill(self, size: int | None = None) -> bool:
        """Read more text onto the buffer; False at the end of the file."""
        if self._eof:
            return False
        data = self._raw.read(size or self._chunk)
        self.bytes_read += len(data)
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            where = self.bytes_read - len(data) + exc.start
            raise DamagedFile(f"the file is not UTF-8 text (an unreadable byte near byte {where:,})") from None
        if self._first:
            self._first = False
            text = text.removeprefix("\ufeff")
        if not data:
            self._eof = True
            if not text:
                return False  # nothing new: the buffer (and offsets into it) stay as they are
        if self._pos:
            self._offset += self._pos
            self._buf = self._buf[self._pos :]
            self._pos = 0
        self._buf += text
        return bool(data) or bool(text)

    def _peek(self) -> str:
        """The next non-space character ('' at the end of the file)."""
        while True:
            m = _WS.match(self._buf, self._pos)
            self._pos = m.end() if m else self._pos
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _expect(self, allowed: str) -> str:
        c = self._peek()
        if c == "":
            raise DamagedFile("the file ends too early: it looks cut off (an interrupted download?)", truncated=True)
        if c not in allowed:
            raise DamagedFile(f"the file is damaged near character {self._offset + self._pos:,} "
                              f"(expected {' or '.join(repr(a) for a in allowed)}, found {c!r})")
        self._pos += 1
        return c

    def _value(self) -> Any:
        if self._peek() == "":
            raise DamagedFile("the file ends too early: it looks cut off (an interrupted download?)", truncated=True)
        more = self._chunk
        while True:
            try:
                value, end = self._json.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                incomplete = exc.pos >= len(self._buf) - _NEAR_END or exc.msg.startswith("Unterminated string")
                if incomplete and self._fill(more):
                    more *= 2  # a huge element: read in growing steps, not quadratically
                    continue
                if self._eof and _cut_at(self._buf, exc):
                    raise DamagedFile(
                        "the file ends too early: it looks cut off (an interrupted download?)", truncated=True
                    ) from None
                raise DamagedFile(
                    f"the file is damaged near character {self._offset + exc.pos:,} ({exc.msg})"
                ) from None
            cut = end >= len(self._buf) and not self._eof and not isinstance(value, (dict, list, str))
            if cut and self._fill(more):  # a number or literal that may go on in the next chunk
                continue
            self._pos = end
            return value

    # --- elements ---------------------------------------------------------------

    def __iter__(self) -> Iterator[Any]:
        first = self._peek()
        if first == "[":
            self.shape = "array"
            self._pos += 1
            yield from self._array()
        elif first == "{":
            self.shape = "object"
            self._pos += 1
            yield from self._object()
        elif first == "":
            raise DamagedFile("the file is empty", truncated=True)
        else:
            raise DamagedFile("the file is not a JSON export (it does not start with '[' or '{')")
        if self._peek() != "":
            raise DamagedFile(
                f"the file is damaged near character {self._offset + self._pos:,} (more data after the end)"
            )

    def _array(self) -> Iterator[Any]:
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            yield self._value()
            if self._expect(",]") == "]":
                return

    def _object(self) -> Iterator[Any]:
        streamed = False
        if self._peek() == "}":
            self._pos += 1
        else:
            while True:
                key = self._value()
                if not isinstance(key, str):
                    raise DamagedFile(f"the file is damaged near character {self._offset + self._pos:,} (a key)")
                self._expect(":")
                if key == "conversations" and self._peek() == "[" and not streamed:
                    streamed = True
                    self._pos += 1
                    yield from self._array()
                else:
                    self.header[key] = self._value()
                if self._expect(",}") == "}":
                    break
        if not streamed:
            yield self.header
