"""Read a Python source file the way the interpreter would, or say clearly why not."""

from __future__ import annotations

import ast
import io
import os
import re
import stat
import tokenize
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024
_ASCII_PROBE = b"# -*- coding -*-\n"
_PARSER_POSITION = re.compile(r"error at (\d+):(\d+)")


class SourceError(Exception):
    """Bad input: reported as one line, `file[:line:col]: message`."""

    def __init__(self, file: str, message: str, line: int = 0, col: int = 0) -> None:
        super().__init__(message)
        self.file, self.message, self.line, self.col = file, message, line, col

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return f"{where}: {' '.join(self.message.split())}"

    def __reduce__(self) -> tuple[object, ...]:  # crosses a process pool intact
        return (type(self), (self.file, self.message, self.line, self.col))


@dataclass(frozen=True, slots=True)
class Source:
    file: str  # as given or found
    text: str
    encoding: str  # what `text.encode(encoding)` writes back byte for byte

    def encode(self, text: str) -> bytes:
        return text.encode(self.encoding)


def read_source(path: Path, file: str | None = None) -> Source:
    """Read and decode `path`; every failure is a `SourceError`."""
    name = file or str(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise SourceError(name, "is a directory")
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            raise SourceError(name, "not a regular file")
        if info.st_size > MAX_BYTES:
            raise SourceError(name, f"skipped: larger than {MAX_BYTES // (1024 * 1024)} MB")
        data = path.read_bytes()
    except FileNotFoundError:
        broken = os.path.islink(path)
        raise SourceError(name, "broken symbolic link" if broken else "no such file") from None
    except IsADirectoryError:
        raise SourceError(name, "is a directory") from None
    except PermissionError:
        raise SourceError(name, "permission denied") from None
    except OSError as error:
        raise SourceError(name, f"cannot read: {error.strerror or error}") from None
    return decode_source(data, name)


def decode_source(data: bytes, file: str) -> Source:
    if not data.strip():
        raise SourceError(file, "file is empty")
    if b"\0" in data:
        line, col = _position(data, data.index(b"\0"))
        raise SourceError(file, "contains a NUL byte: binary file, not Python source", line, col)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        message = str(error.msg)
        if message.startswith("invalid or missing encoding declaration"):
            encoding = "utf-8"  # the decoding below says where it fails
        elif message.startswith("encoding problem"):  # a UTF-8 BOM with another cookie
            raise SourceError(
                file, "coding cookie conflicts with the UTF-8 byte-order mark"
            ) from None
        elif message.startswith("unknown encoding"):
            cookie = message.rpartition(":")[2].strip()
            raise SourceError(file, f"coding cookie names an unknown encoding {cookie!r}") from None
        else:
            raise SourceError(file, message) from None
    if not _ascii_compatible(encoding):
        raise SourceError(
            file, f"coding cookie names {encoding!r}, which Python cannot read source in"
        )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line, col = _position(data, error.start)
        hint = "" if encoding != "utf-8" else " and has no coding cookie"
        raise SourceError(file, f"not valid {encoding}{hint}", line, col) from None
    return Source(file, text, encoding)


def syntax_error(source: Source, fallback: SourceError) -> SourceError:
    """The interpreter's own message and position for a source the parser rejected.

    libcst's messages list expected tokens, and its positions can point at the start of the
    statement; Python's parser says what is wrong where (`'(' was never closed`, TabError...).
    Used only after libcst failed, so syntax newer than this interpreter is never rejected here.
    """
    try:
        compile(source.text, source.file, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as error:  # IndentationError and TabError included
        kind = "syntax error" if type(error) is SyntaxError else type(error).__name__
        line = error.lineno or fallback.line
        return SourceError(source.file, f"{kind}: {error.msg}", line, error.offset or 1)
    except (ValueError, RecursionError, MemoryError) as error:
        return SourceError(source.file, f"syntax error: {error}", fallback.line, fallback.col)
    match = _PARSER_POSITION.search(fallback.message)
    if match:  # libcst's message carries the real position (0-based column)
        line, col = int(match[1]), int(match[2]) + 1
        return SourceError(source.file, fallback.message, line, col)
    return fallback


def _ascii_compatible(encoding: str) -> bool:
    try:
        return _ASCII_PROBE.decode(encoding, "replace") == _ASCII_PROBE.decode()
    except LookupError:  # a bytes-to-bytes or text-to-text codec such as rot13
        return False


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a byte offset."""
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - start + 1
