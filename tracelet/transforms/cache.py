"""Content-addressed caches under `.tracelet_cache/`: compiled rewrites and lint findings.

Entries are keyed by the source bytes, the file name, tracelet's and Python's
versions and the configuration, so an upgrade or a config change misses. Like
pytest's rewritten test modules: a hit is a hash, a read and a decode, and
imports neither libcst nor the engine; a miss writes its entry atomically (temp
file + `os.replace`), so concurrent runs never see half a file.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
from pathlib import Path
from types import CodeType

from tracelet import __version__
from tracelet.transforms.options import Detect

ROOT = Path(".tracelet_cache")


def key(data: bytes, *parts: str) -> str:
    digest = hashlib.sha256(data)
    # optimize: code compiled under `python -O` has no asserts
    for part in (__version__, sys.version, str(sys.flags.optimize), *parts):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


def load(folder: Path, entry: str) -> bytes | None:
    try:
        return (folder / entry).read_bytes()
    except OSError:
        return None


def store(folder: Path, entry: str, payload: bytes) -> None:
    """Write atomically; a cache that cannot be written only costs the next run time."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.replace(temp, folder / entry)
    except OSError:
        pass


def compiled_rewrite(
    path: str | Path, data: bytes, detect: Detect = Detect(), root: Path = ROOT
) -> CodeType:
    """The code object of `path`'s rewrite, from the cache when it is there."""
    filename = str(path)
    folder, entry = root / "rewrite", key(data, filename, repr(detect)) + ".bin"
    cached = load(folder, entry)
    if cached is not None:
        try:
            return marshal.loads(cached)
        except (EOFError, ValueError, TypeError):
            pass
    from tracelet.transforms.engine import transform
    from tracelet.transforms.inject import code_tree
    from tracelet.transforms.source import decode_source

    result = transform(decode_source(data, filename), detect)
    code = compile(code_tree(result.rewrite, filename), filename, "exec", dont_inherit=True)
    store(folder, entry, marshal.dumps(code))
    return code
