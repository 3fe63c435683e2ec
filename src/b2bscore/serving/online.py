"""The online feature store: the latest features of every account and open lead, written by the nightly batch
(``b2bscore score``) and read by the service to score by id.

It is Feast's: the feature views are generated from the feature specs (:mod:`b2bscore.features.online`), the batch job
registers them (``FeatureStore.apply``) and writes the rows it scored (``write_to_online_store``) into Feast's SQLite
online store under the project home (the embedded default) or into Redis (production: ``online_store:
redis://host:port/db``). The service reads them through the same Feast online-store class
(``OnlineStore.online_read``), without ``FeatureStore.get_online_features``'s per-call overhead (see the README's
"Scoring by id" for the figures).

**Generations, swapped at once.** Each run writes a complete new generation -- its own Feast project
(``b2bscore_<generation>``): for SQLite its own folder with ``registry.db``, ``online.db`` and the feature tables'
Parquet copies (the views' offline source), for Redis its own keys -- and only then publishes it by replacing one
small manifest (``current.json`` beside the generations, written to a temporary name and renamed; in Redis one ``SET``
of :data:`MANIFEST_KEY`). A run that fails or is killed leaves the previous generation published and whole; a reader
never sees a half-written one. The generation before the previous one is removed after the swap (a service still
reading the previous one finishes its request).

The manifest records the features' as-of time, when they were written, and per task the view that holds its
features, the digest of the feature configuration they were built with and the model version that scored them.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from redis.exceptions import RedisError

from b2bscore.errors import B2BScoreError, ConfigError, DataError
from b2bscore.features import FeatureConfig
from b2bscore.features.build import KEY_COLUMNS, feature_specs
from b2bscore.features.online import TIMESTAMP, RowLayout, config_digest, feast_entities, feature_view, stored_columns
from b2bscore.home import ProjectHome
from b2bscore.io import write_text

log = logging.getLogger(__name__)

ONLINE_STORE_ENV = "B2BSCORE_ONLINE_STORE"
REDIS_PASSWORD_ENV = "B2BSCORE_REDIS_PASSWORD"
MANIFEST = "current.json"
MANIFEST_KEY = "b2bscore:online:current"
REDIS_PREFIX = "b2bscore:online:"
"""Where the published generation is named: a file in the home's online-store folder, or this Redis key."""
_REDIS_URL = re.compile(r"^redis://(?P<host>[^:/]+)(?::(?P<port>\d+))?(?:/(?P<db>\d+))?$")


@dataclass(frozen=True)
class StoreLocation:
    """Where the online store lives: ``sqlite`` (Feast's SQLite store under the project home), ``redis://host:port/db``,
    or ``off`` (``b2bscore score`` writes none)."""

    spec: str = "sqlite"
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, value: str | None, *, source: str, password: str | None = None) -> StoreLocation:
        """``value`` as a location; a ConfigError naming ``source`` when it is none of the three forms."""
        spec = (value or "sqlite").strip()
        if spec in ("sqlite", "off") or _REDIS_URL.match(spec):
            return cls(spec, password or None)
        raise ConfigError(f"{source}: online store {spec!r} is not one of: sqlite (Feast's SQLite store under the "
                          "project home), redis://HOST:PORT/DB, off")

    @classmethod
    def resolve(cls, value: str | None, environ: Mapping[str, str], *, source: str) -> StoreLocation:
        """``value``, else ``$B2BSCORE_ONLINE_STORE``, else ``sqlite``; the Redis password only from
        ``$B2BSCORE_REDIS_PASSWORD`` (never a file or a command line)."""
        chosen, where = (value, source) if value else (environ.get(ONLINE_STORE_ENV), f"${ONLINE_STORE_ENV}")
        return cls.parse(chosen, source=where, password=environ.get(REDIS_PASSWORD_ENV))

    @property
    def enabled(self) -> bool:
        return self.spec != "off"

    @property
    def is_redis(self) -> bool:
        return self.spec.startswith("redis://")

    def describe(self) -> str:
        return self.spec

    def online_config(self, home: ProjectHome, generation: str):
        """Feast's online-store configuration of ``generation``."""
        if self.is_redis:
            from feast.infra.online_stores.redis import RedisOnlineStoreConfig

            match = _REDIS_URL.match(self.spec)
            parts = [f"{match['host']}:{match['port'] or 6379}", f"db={match['db'] or 0}"]
            if self.password:
                parts.append(f"password={self.password}")
            return RedisOnlineStoreConfig(connection_string=",".join(parts))
        from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig

        return SqliteOnlineStoreConfig(path=str(home.online_store_dir / generation / "online.db"))

    def redis_client(self):
        import redis

        match = _REDIS_URL.match(self.spec)
        return redis.Redis(host=match["host"], port=int(match["port"] or 6379), db=int(match["db"] or 0),
                           password=self.password, socket_timeout=5)


def _repo_config(home: ProjectHome, location: StoreLocation, generation: str):
    from feast import RepoConfig
    from feast.repo_config import RegistryConfig

    folder = home.online_store_dir / generation
    return RepoConfig(project=f"b2bscore_{generation}", provider="local", entity_key_serialization_version=3,
                      registry=RegistryConfig(path=str(folder / "registry.db"), cache_ttl_seconds=0),
                      online_store=location.online_config(home, generation), repo_path=folder)


@dataclass(frozen=True)
class ViewPlan:
    """One feature view of a generation: the features of ``entity`` built with ``config``, for ``tasks``."""

    name: str
    entity: str
    config: FeatureConfig
    tasks: tuple[str, ...]
    versions: dict[str, str]


def plan_views(champions: Mapping[str, object]) -> dict[str, ViewPlan]:
    """The views a run writes for its champions (``task -> Champion``): the conversion champion's lead features,
    and one view per distinct feature configuration of the account champions (propensity, churn and CLTV usually
    share one)."""
    views: dict[str, ViewPlan] = {}
    for task, champion in champions.items():
        model = champion.model
        entity, config = model.entity, model.feature_config
        digest = config_digest(config)
        same = next((v for v in views.values() if v.entity == entity and config_digest(v.config) == digest), None)
        if same is None:
            views[task] = ViewPlan(f"{entity}_{digest}", entity, config, (task,), {task: champion.version})
        else:
            views[next(k for k, v in views.items() if v is same)] = ViewPlan(
                same.name, entity, same.config, (*same.tasks, task), {**same.versions, task: champion.version})
    return views


class OnlineStoreWriter:
    """One generation being written: ``write`` the feature rows of each view as they are scored, then ``publish``
    (or ``discard``).

    Each chunk goes to the store (SQLite or Redis) and to the view's Parquet copy as it comes, so the writer holds
    no more than one chunk whatever the number of accounts; nothing is visible to a reader before ``publish``
    names the generation in the manifest."""

    def __init__(self, home: ProjectHome, location: StoreLocation, views: Mapping[str, ViewPlan],
                 as_of: pd.Timestamp) -> None:
        self.home, self.location, self.as_of = home, location, pd.Timestamp(as_of)
        self.generation = datetime.now(timezone.utc).strftime("%Y%m%dt%H%M%S") + "_" + uuid.uuid4().hex[:8]
        self.folder = home.online_store_dir / self.generation
        self.views = dict(views)
        self.rows: dict[str, int] = {plan.name: 0 for plan in self.views.values()}
        self._backend = None
        self._parquet: dict[str, object] = {}

    def write(self, task: str, features: pd.DataFrame) -> None:
        """The feature rows ``task``'s champion scored (one chunk), written at once; other tasks of the same view
        are ignored."""
        plan = self.views.get(task)
        if plan is None or plan.tasks[0] != task or features.empty:
            return
        key = KEY_COLUMNS[plan.entity][0]
        frame = features[[key, *stored_columns(plan.config, plan.entity), TIMESTAMP]]
        try:
            self._parquet_writer(plan).write_table(_arrow_table(frame, plan))
            self._store().write(plan.name, pack_rows(frame, RowLayout.of(plan.config, plan.entity), key))
        except (OSError, sqlite3.Error) as exc:  # a full or read-only disk: one message naming the store
            raise DataError(f"cannot write the online store at {self.folder}: {exc}") from None
        self.rows[plan.name] += len(frame)

    def _store(self):
        """The generation's rows in the store, its folder made by the first write."""
        if self._backend is None:
            try:
                self.folder.mkdir(parents=True, exist_ok=False)
            except OSError as exc:
                raise DataError(f"cannot write the online store at {self.folder}: {exc.strerror}") from None
            self._backend = _backend(self.home, self.location, self.generation)
        return self._backend

    def _parquet_writer(self, plan: ViewPlan):
        """The Parquet copy of ``plan``'s table (the view's offline source), opened at its first chunk."""
        writer = self._parquet.get(plan.name)
        if writer is None:
            import pyarrow.parquet as pq

            self._store()
            writer = self._parquet[plan.name] = pq.ParquetWriter(self.folder / f"{plan.name}.parquet",
                                                                 _arrow_schema(plan))
        return writer

    def publish(self) -> dict:
        """Close the views' tables, register them with Feast, then name the generation in the manifest: the swap.
        Returns the manifest."""
        try:
            store = self._store()
            for plan in self.views.values():
                self._parquet_writer(plan).close()  # a view without rows gets an empty table of its schema
            for plan in self.views.values():
                store.create(plan.name)  # an empty view is a table too: a lookup finds no id rather than no table
            self._register()
            manifest = {
                "generation": self.generation, "store": self.location.describe(),
                "as_of": self.as_of.isoformat(), "written_at": datetime.now(timezone.utc).isoformat(),
                "views": {p.name: {"entity": p.entity, "config_digest": config_digest(p.config), "tasks": list(p.tasks),
                                   "model_versions": p.versions, "rows": self.rows[p.name]}
                          for p in self.views.values()},
                "tasks": {t: p.name for p in self.views.values() for t in p.tasks},
            }
            previous = read_manifest(self.home, self.location)
            _write_manifest(self.home, self.location, manifest)
        except BaseException:
            self.discard()
            raise
        _remove_old_generations(self.home, self.location, keep={self.generation, (previous or {}).get("generation")})
        return manifest

    def _register(self) -> None:
        """The generation's Feast registry: the entities and the views generated from the specs, each view's offline
        source the Parquet copy of its table (``FeatureStore.get_historical_features`` reads them)."""
        from feast import FeatureStore

        views = [feature_view(p.name, p.config, p.entity, self.folder / f"{p.name}.parquet")
                 for p in self.views.values()]
        store = FeatureStore(config=_repo_config(self.home, self.location, self.generation))
        store.apply([*feast_entities().values(), *views])

    def discard(self) -> None:
        """Remove what this generation wrote (the published one is untouched)."""
        for writer in self._parquet.values():
            try:
                writer.close()
            except Exception:  # noqa: BLE001 -- the folder goes next; a writer that cannot close is removed with it
                pass
        if self.location.is_redis:
            _backend(self.home, self.location, self.generation).drop([p.name for p in self.views.values()])
        shutil.rmtree(self.folder, ignore_errors=True)


_ARROW_TYPES = {"float": "float64", "int": "int64", "bool": "bool_", "category": "string", "string": "string"}


def _arrow_schema(plan: ViewPlan):
    """The schema of a view's Parquet copy, from the feature specs (the same for every chunk, whatever a chunk's
    pandas dtypes -- a column missing in every row of one chunk included)."""
    import pyarrow as pa

    keys = [pa.field(k, pa.string()) for k in KEY_COLUMNS[plan.entity]]
    features = [pa.field(s.name, getattr(pa, _ARROW_TYPES[s.dtype])())
                for s in feature_specs(plan.config, plan.entity)]
    return pa.schema([*keys, *features, pa.field(TIMESTAMP, pa.timestamp("ns"))])


def _arrow_table(frame: pd.DataFrame, plan: ViewPlan):
    """One chunk of a view's table in its schema."""
    import pyarrow as pa

    schema = _arrow_schema(plan)
    arrays = []
    for spec in schema:
        column = frame[spec.name]
        if pa.types.is_string(spec.type):
            column = column.astype(object).where(column.notna(), None).map(lambda v: v if v is None else str(v))
        arrays.append(pa.array(column, type=spec.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def pack_rows(frame: pd.DataFrame, layout: RowLayout, key: str) -> list[tuple[str, bytes]]:
    """``(id, packed row)`` of each row of a feature table: the numeric features as little-endian float64 (missing:
    NaN), then the text columns as a JSON list (missing: null)."""
    numbers = frame[list(layout.numeric)].to_numpy(dtype="<f8") if len(frame) else np.zeros((0, len(layout.numeric)))
    texts = frame[list(layout.text)].astype(object).where(frame[list(layout.text)].notna(), None).to_numpy()
    ids = frame[key].astype(str).to_numpy()
    return [(ids[i], numbers[i].tobytes() + json.dumps(list(texts[i])).encode()) for i in range(len(frame))]


class _SqliteRows:
    """A generation's rows in SQLite (the store Feast's embedded online store uses): one table per view, one row
    per entity, ``online.db`` in the generation's folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def create(self, view: str) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute(f'CREATE TABLE IF NOT EXISTS "{view}" (entity_id TEXT PRIMARY KEY, row BLOB NOT NULL) '
                         "WITHOUT ROWID")
        conn.close()

    def write(self, view: str, rows: list[tuple[str, bytes]]) -> None:
        """Append rows to ``view``'s table (made by the first write)."""
        with sqlite3.connect(self.path) as conn:
            conn.execute(f'CREATE TABLE IF NOT EXISTS "{view}" (entity_id TEXT PRIMARY KEY, row BLOB NOT NULL) '
                         "WITHOUT ROWID")
            conn.executemany(f'INSERT INTO "{view}" VALUES (?, ?)', rows)
        conn.close()

    def read(self, view: str, ids: Sequence[str]) -> list[bytes | None]:
        with self._lock:
            if self._conn is None:
                self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            if len(ids) == 1:
                found = self._conn.execute(f'SELECT row FROM "{view}" WHERE entity_id = ?', (ids[0],)).fetchone()
                return [None if found is None else found[0]]
            rows = {}
            for start in range(0, len(ids), 900):  # SQLite's limit of bound variables
                part = list(ids[start:start + 900])
                rows.update(self._conn.execute(f'SELECT entity_id, row FROM "{view}" WHERE entity_id IN '
                                               f'({",".join("?" * len(part))})', part).fetchall())
        return [rows.get(i) for i in ids]


class _RedisRows:
    """A generation's rows in Redis: one hash per view (``b2bscore:online:<generation>:<view>``), field = id."""

    def __init__(self, location: StoreLocation, generation: str) -> None:
        self.client = location.redis_client()
        self.prefix = f"{REDIS_PREFIX}{generation}:"

    def create(self, view: str) -> None:
        """Nothing to make: a view without rows is a hash without fields (a lookup finds no id)."""

    def write(self, view: str, rows: list[tuple[str, bytes]]) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            for start in range(0, len(rows), 1000):
                pipe.hset(self.prefix + view, mapping=dict(rows[start:start + 1000]))
            pipe.execute()

    def read(self, view: str, ids: Sequence[str]) -> list[bytes | None]:
        return self.client.hmget(self.prefix + view, list(ids))

    def drop(self, views: Sequence[str]) -> None:
        if views:
            self.client.delete(*(self.prefix + view for view in views))


def _backend(home: ProjectHome, location: StoreLocation, generation: str):
    if location.is_redis:
        return _RedisRows(location, generation)
    return _SqliteRows(home.online_store_dir / generation / "online.db")


def _manifest_path(home: ProjectHome) -> Path:
    return home.online_store_dir / MANIFEST


def read_manifest(home: ProjectHome, location: StoreLocation) -> dict | None:
    """The published generation's manifest, or None when no run has written one."""
    if location.is_redis:
        raw = location.redis_client().get(MANIFEST_KEY)
        return None if raw is None else json.loads(raw)
    path = _manifest_path(home)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _write_manifest(home: ProjectHome, location: StoreLocation, manifest: dict) -> None:
    text = json.dumps(manifest, indent=2)
    if location.is_redis:
        location.redis_client().set(MANIFEST_KEY, text)
    else:
        write_text(_manifest_path(home), text)


def _remove_old_generations(home: ProjectHome, location: StoreLocation, keep: set) -> None:
    """Remove the generations before the previous one (their folders, and their keys in Redis)."""
    for old in sorted(p for p in home.online_store_dir.iterdir() if p.is_dir() and p.name not in keep):
        if location.is_redis:
            client = location.redis_client()
            stale = list(client.scan_iter(f"{REDIS_PREFIX}{old.name}:*"))
            if stale:
                client.delete(*stale)
        shutil.rmtree(old, ignore_errors=True)


# -- reading ---------------------------------------------------------------------------------------------------------
class StoreUnavailable(B2BScoreError):
    """The online store could not be read (Redis down, a database file gone): the by-id records get a 503 each."""


@dataclass
class StoredRows:
    """Stored feature rows of some ids, as packed (:class:`RowLayout`): ``numbers`` one row per id (NaN where the
    store does not hold it), ``texts`` each id's text columns (None where not held), ``found`` which ids it holds,
    ``as_of`` the features' as-of time."""

    ids: list[str]
    layout: RowLayout
    numbers: np.ndarray
    texts: list[list | None]
    found: np.ndarray
    as_of: pd.Timestamp


class OnlineFeatures:
    """The service's reader of the published generation: ``refresh`` follows the manifest, ``rows`` looks ids up."""

    def __init__(self, home: ProjectHome, location: StoreLocation) -> None:
        self.home, self.location = home, location
        self.manifest: dict | None = None
        self.problem: str | None = None
        self._backend = None
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Read the manifest; True when a new generation was published since the last call. While the store cannot
        be read, the generation already open keeps serving and :attr:`problem` says why."""
        if not self.location.enabled:
            self.problem = "the online store is off (online_store: off)"
            return False
        try:
            manifest = read_manifest(self.home, self.location)
        except RedisError as exc:  # before OSError: redis-py's errors may be both
            self.problem = f"the online store at {self.location.describe()} is unreachable: {exc}"
            return False
        except (OSError, ValueError) as exc:
            self.problem = f"the online store's manifest cannot be read: {exc}"
            return False
        self.problem = None if manifest else "the online store is empty: run `b2bscore score` to fill it"
        if manifest is None or (self.manifest and manifest["generation"] == self.manifest["generation"]):
            return False
        backend = _backend(self.home, self.location, manifest["generation"])
        with self._lock:  # a reader never pairs one generation's manifest with another's rows
            self.manifest, self._backend = manifest, backend
        return True

    @property
    def as_of(self) -> pd.Timestamp | None:
        return None if self.manifest is None else pd.Timestamp(self.manifest["as_of"])

    def age_seconds(self, now: datetime) -> float | None:
        """Seconds since the published generation was written (None: none is)."""
        if self.manifest is None:
            return None
        return (now - datetime.fromisoformat(self.manifest["written_at"])).total_seconds()

    def describe(self, now: datetime) -> dict:
        """What ``/ready`` and ``/models`` show of the store."""
        age = self.age_seconds(now)
        m = self.manifest or {}
        return {"location": self.location.describe(), "generation": m.get("generation"), "as_of": m.get("as_of"),
                "written_at": m.get("written_at"), "age_seconds": None if age is None else round(age, 1),
                "rows": {name: view["rows"] for name, view in m.get("views", {}).items()}, "problem": self.problem}

    def unusable(self, task: str, config: FeatureConfig) -> str | None:
        """Why ``task``'s stored rows cannot be scored by a champion with ``config`` (None: they can)."""
        if self.manifest is None:
            return self.problem or "the online store is empty: run `b2bscore score` to fill it"
        view = self.manifest["tasks"].get(task)
        if view is None:
            return f"the online store holds no {task} features: the last `b2bscore score` had no {task} champion"
        if self.manifest["views"][view]["config_digest"] != config_digest(config):
            return (f"the online store's {task} features were built for another feature configuration (version "
                    f"{self.manifest['views'][view]['model_versions'].get(task)}) than the champion's: run "
                    "`b2bscore score` again to refresh them")
        return None

    def rows(self, task: str, config: FeatureConfig, entity: str, ids: Sequence[str]) -> StoredRows:
        """The stored rows of ``ids`` for ``task`` (check :meth:`unusable` first). When the store cannot be read or
        does not hold every id, the manifest is read again: two runs within one refresh interval remove the
        generation this reader had open (only the published one and the one before it are kept), and its ids would
        read as unknown. Then the ids are read from the generation published now, if its rows suit ``config``."""
        try:
            rows = self._read(task, config, entity, ids)
        except StoreUnavailable:
            if not self._followed(task, config):
                raise
            return self._read(task, config, entity, ids)
        if not rows.found.all() and self._followed(task, config):
            return self._read(task, config, entity, ids)
        return rows

    def _followed(self, task: str, config: FeatureConfig) -> bool:
        """Whether a newer generation was published since the last refresh, and holds rows ``config`` can score."""
        return self.refresh() and self.unusable(task, config) is None

    def _read(self, task: str, config: FeatureConfig, entity: str, ids: Sequence[str]) -> StoredRows:
        with self._lock:
            manifest, backend = self.manifest, self._backend
        layout = row_layout(config, entity)
        try:
            blobs = backend.read(manifest["tasks"][task], ids)
        except (RedisError, sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"the online store at {self.location.describe()} cannot be read: {exc}") from None
        width = 8 * len(layout.numeric)
        found = np.array([b is not None for b in blobs], dtype=bool)
        missing = b"\x00\x00\x00\x00\x00\x00\xf8\x7f" * len(layout.numeric)  # NaN
        numbers = np.frombuffer(b"".join(b[:width] if b is not None else missing for b in blobs),
                                dtype="<f8").reshape(len(blobs), len(layout.numeric)).copy()
        texts = [None if b is None else json.loads(b[width:]) for b in blobs]
        return StoredRows(ids=list(ids), layout=layout, numbers=numbers, texts=texts, found=found,
                          as_of=pd.Timestamp(manifest["as_of"]))


@functools.lru_cache(maxsize=64)
def row_layout(config: FeatureConfig, entity: str) -> RowLayout:
    """:meth:`RowLayout.of`, computed once per configuration and entity."""
    return RowLayout.of(config, entity)


def stored_frame(rows: StoredRows, config: FeatureConfig, entity: str, positions: Sequence[int]) -> pd.DataFrame:
    """The rows at ``positions`` (found ones) as the feature frame ``build_features`` returns (keys, as_of, features
    in order, declared dtypes)."""
    from b2bscore.features import feature_specs

    key = KEY_COLUMNS[entity][0]
    positions = list(positions)
    columns: dict[str, object] = {key: np.array([rows.ids[i] for i in positions], dtype=object)}
    text_at = {name: j for j, name in enumerate(rows.layout.text)}
    number_at = {name: j for j, name in enumerate(rows.layout.numeric)}
    for extra in KEY_COLUMNS[entity][1:]:
        columns[extra] = np.array([rows.texts[i][text_at[extra]] for i in positions], dtype=object)
    columns[TIMESTAMP] = np.full(len(positions), rows.as_of.to_datetime64(), dtype="datetime64[ns]")
    dtypes = {"float": np.float64, "int": np.int64, "bool": np.bool_}
    numbers = rows.numbers[positions] if positions else np.zeros((0, len(rows.layout.numeric)))
    for spec in feature_specs(config, entity):
        if spec.dtype in dtypes:
            columns[spec.name] = numbers[:, number_at[spec.name]].astype(dtypes[spec.dtype])
        else:
            columns[spec.name] = np.array([rows.texts[i][text_at[spec.name]] for i in positions], dtype=object)
    return pd.DataFrame(columns)
