"""Read a Python source file the way the interpreter would, or say clearly why not."""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024


class SourceError(Exception):
    """Bad input: reported as one line, `file[:line:col]: message`."""

    def __init__(self, file: str, message: str, line: int = 0, col: int = 0) -> None:
        super().__init__(message)
        self.file, self.message, self.line, self.col = file, message, line, col

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return f"{where}: {self.message}"


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
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SourceError(name, f"skipped: larger than {MAX_BYTES // (1024 * 1024)} MB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(name, "no such file") from None
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
        raise SourceError(file, "binary file, not Python source")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        raise SourceError(file, str(error).split(" (")[0]) from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        hint = "" if encoding != "utf-8" else " and has no coding cookie"
        raise SourceError(file, f"not valid {encoding}{hint}", line, 1) from None
    return Source(file, text, encoding)
