"""The synchronous store handle."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import _native
from ._repository import ENTITIES, REPOSITORY_CLASSES, Repository, run_sync
from ._state import State, Subscription
from ._transforms import Transforms

PathLike = str | os.PathLike[str]


def paths(transforms: Mapping[str, PathLike] | None) -> dict[str, str] | None:
    if transforms is None:
        return None
    return {name: os.fspath(path) for name, path in transforms.items()}


class Store:
    """An open polystat store: relational data, documents, cache and state.

    Open one with :meth:`open` or :meth:`open_default`; the repositories are
    attributes (``store.catalogs``, ``store.computations``, ...). A store is
    safe to share between threads. It cannot be used in a process forked
    after it was opened: open a new one in the child.
    """

    _run = staticmethod(run_sync)
    _repository_class = Repository
    _repository_classes = REPOSITORY_CLASSES
    _state_class = State
    _transforms_class = Transforms

    users: Any
    catalogs: Any
    controls: Any
    scopes: Any
    secrets: Any
    service_accounts: Any
    computations: Any
    guarantee_points: Any
    mashups: Any
    datasources: Any
    linkers: Any
    folders: Any

    def __init__(self, native: Any) -> None:
        self._native = native
        for entity in ENTITIES:
            cls = self._repository_classes.get(entity, self._repository_class)
            setattr(self, entity, cls(native, entity))
        self.state = self._state_class(native)
        self.transforms = self._transforms_class(native)

    @classmethod
    def open(
        cls,
        relational_url: str | None = None,
        documents_url: str | None = None,
        cache_url: str | None = None,
        master_key: str | None = None,
        data_root: PathLike | None = None,
    ) -> Any:
        """Open a store and apply migrations.

        Arguments left as None take the ``POLYSTAT_*`` environment
        variables, then the defaults: ``sqlite://polystat.db`` in the working
        directory for both URLs and the in-process cache (``memory``).
        ``master_key`` is 32 bytes in base64; ``data_root`` is the folder
        that ``file`` datasource paths stay inside.
        """
        root = None if data_root is None else os.fspath(data_root)
        operation = _native.NativeStore.open(
            relational_url, documents_url, cache_url, master_key, root
        )
        return cls._run(operation, cls)

    @classmethod
    def open_default(cls) -> Any:
        """Open the store that the ``POLYSTAT_*`` environment variables
        describe, or ``polystat.db`` in the working directory."""
        return cls.open()

    def __repr__(self) -> str:
        if self._native.closed:
            return "<polystat.Store closed>"
        return f"<polystat.{self._native.describe()}>"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._native.closed:
            self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return bool(self._native.closed)

    def close(self) -> Any:
        """Close the connection pools; later calls raise ConfigurationError."""
        return self._run(self._native.close())

    def cache_stats(self) -> dict[str, Any]:
        """Return the counters of both cache tiers and of the database loads
        behind them."""
        return dict(self._native.cache_stats())

    def run_linker(
        self, linker_id: str, transforms: Mapping[str, PathLike] | None = None
    ) -> Any:
        """Run a stored linker and record its execution status; return
        ``{"records": [...], "diagnostics": [...]}``. ``transforms`` maps
        transform names to WebAssembly module files."""
        return self._run(self._native.run_linker(linker_id, paths(transforms)))

    def test_linker(
        self,
        linker_id: str,
        transforms: Mapping[str, PathLike] | None = None,
        sample_size: int | None = None,
    ) -> Any:
        """Run a linker on at most ``sample_size`` records per source (20 by
        default) and write nothing."""
        operation = self._native.test_linker(linker_id, paths(transforms), sample_size)
        return self._run(operation)

    def linker_result(
        self,
        linker_id: str,
        transforms: Mapping[str, PathLike] | None = None,
        sample_size: int | None = None,
    ) -> Any:
        """Return a linker's output, from the cache when the same linker
        version ran with the same options before; writes nothing."""
        operation = self._native.linker_result(linker_id, paths(transforms), sample_size)
        return self._run(operation)

    def test_datasource(self, datasource_id: str) -> Any:
        """Test that a stored datasource can be read and record the outcome
        on it; return ``status`` (``"ok"`` or ``"failed"``), ``message``,
        ``code``, ``tested_at`` and ``elapsed`` seconds. A failed connection
        is a result, not an exception."""
        return self._run(self._native.test_datasource(datasource_id))

    def import_oscal(self, catalog: PathLike | Mapping[str, Any]) -> Any:
        """Import an OSCAL JSON catalog, given as a file path or as the
        parsed document; return the counts created, updated and unchanged."""
        source = catalog if isinstance(catalog, Mapping) else os.fspath(catalog)
        return self._run(self._native.import_oscal(source))

    def evaluate_job(self, job_path: PathLike, data_dir: PathLike | None = None) -> Any:
        """Run a job file as ``polystat evaluate`` does and return its report.
        ``data_dir`` overrides the job's data folder."""
        data = None if data_dir is None else os.fspath(data_dir)
        return self._run(self._native.evaluate_job(os.fspath(job_path), data))

    def evaluate_control(
        self,
        control_id: str,
        records: list[Mapping[str, Any]],
        transforms: Mapping[str, PathLike],
        transform: str,
        period: Mapping[str, Any],
        params: Any = None,
        scope: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run the rule transform ``transform`` (a name in ``transforms``)
        over linked ``records`` and return the computation of the control for
        ``period`` and ``scope``, as ``polystat evaluate`` would store it.
        Nothing is stored."""
        operation = self._native.evaluate_control(
            control_id, list(records), paths(transforms), transform, period, params, scope
        )
        return self._run(operation)

    def changes(self, entities: list[str] | None = None) -> Subscription:
        """Subscribe to change events of the named repositories (all when
        None). Each message is a dict with ``kind`` (``created``,
        ``updated``, ``deleted``, ``changed`` or ``missed``), ``entity``,
        ``ids``, ``origin`` and ``missed``. Events of writes made after this
        returns are delivered."""
        return Subscription(self._native.changes(entities))
