"""Compiled rewrites, cached by source hash, tracelet version and configuration.

Like pytest's rewritten test modules: a hit is a hash, a read and `marshal.loads`,
and imports neither libcst nor the engine; a miss rewrites, compiles and writes the
entry atomically (temp file + `os.replace`), so concurrent runs never see half a file.
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

DEFAULT_DIR = Path(".tracelet_cache") / "rewrite"


def cache_key(filename: str, data: bytes, detect: Detect) -> str:
    digest = hashlib.sha256(data)
    for part in (filename, __version__, sys.version, repr(detect)):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


def compiled_rewrite(
    path: Path, data: bytes, detect: Detect = Detect(), cache_dir: Path = DEFAULT_DIR
) -> CodeType:
    """The code object of `path`'s rewrite, from the cache when it is there."""
    filename = str(path)
    entry = cache_dir / f"{cache_key(filename, data, detect)}.bin"
    try:
        return marshal.loads(entry.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        pass
    from tracelet.transforms.engine import transform
    from tracelet.transforms.inject import code_tree
    from tracelet.transforms.source import decode_source

    result = transform(decode_source(data, filename), detect)
    code = compile(code_tree(result.rewrite, filename), filename, "exec", dont_inherit=True)
    _store(entry, marshal.dumps(code))
    return code


def _store(entry: Path, payload: bytes) -> None:
    """Write atomically; a cache that cannot be written only costs the next run time."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.replace(temp, entry)
    except OSError:
        pass
