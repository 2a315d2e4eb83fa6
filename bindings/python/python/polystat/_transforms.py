"""The transform registry of a store."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ._repository import run_sync

PathLike = str | os.PathLike[str]


class Transforms:
    """The WebAssembly transform registry: versioned modules by name.

    ``store.transforms.upload("redact", path)`` stores a version; linker
    steps and :meth:`call` run the latest version or a pinned one.
    """

    _run = staticmethod(run_sync)

    def __init__(self, native: Any) -> None:
        self._native = native

    def upload(
        self,
        name: str,
        wasm: bytes | PathLike,
        limits: Mapping[str, int] | None = None,
    ) -> Any:
        """Validate and store a module, given as bytes or a file path.
        Identical bytes return the existing version. ``limits`` may set
        ``fuel``, ``deadlineMs``, ``memoryBytes`` and ``outputBytes``."""
        if not isinstance(wasm, (bytes, bytearray, memoryview)):
            with open(os.fspath(wasm), "rb") as file:
                wasm = file.read()
        return self._run(self._native.transform_upload(name, bytes(wasm), limits))

    def list(self) -> Any:
        """Return every version of every transform, without the bytes."""
        return self._run(self._native.transform_list())

    def versions(self, name: str) -> Any:
        """Return the versions of one transform, oldest first."""
        return self._run(self._native.transform_versions(name))

    def get(self, name: str, version: int | None = None) -> Any:
        """Return ``{"info": ..., "wasm": bytes}`` of a version, the latest
        when ``version`` is None."""
        return self._run(self._native.transform_get(name, version))

    def delete(self, name: str, version: int | None = None) -> Any:
        """Delete one version, or every version; raise ReferenceError while
        a linker uses it."""
        return self._run(self._native.transform_delete(name, version))

    def usage(self, name: str, version: int | None = None) -> Any:
        """Return the ids of the linkers that would run this version, or any
        version when ``version`` is None."""
        return self._run(self._native.transform_usage(name, version))

    def call(
        self,
        name: str,
        records: Sequence[Mapping[str, Any]],
        params: Any = None,
        version: int | None = None,
    ) -> Any:
        """Run a version (the latest by default) over one batch of records."""
        return self._run(self._native.transform_call(name, list(records), params, version))
