"""The feature specs as Feast definitions: an entity per key and a feature view per feature table (declared once).

A feature view's schema is :func:`b2bscore.features.feature_specs` of a feature configuration and an entity, in
Feast's types; its timestamp is the feature table's ``as_of``; its offline source is the Parquet copy of the table
that the batch job writes beside the online store. Nothing here touches a store: ``b2bscore.serving.online`` writes
and reads them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from b2bscore.features.build import KEY_COLUMNS, feature_specs
from b2bscore.features.build import Entity as EntityName
from b2bscore.features.config import FeatureConfig

TIMESTAMP = "as_of"
"""The feature table's as-of time: the Feast event timestamp of every stored row."""
ENTITY_KEYS = {"account": ("account_id", "A company (accounts.account_id)."),
               "lead": ("lead_id", "A person at a company (leads.lead_id).")}
"""One Feast entity per scored entity: its join key and description (:func:`feast_entities`)."""


def feast_entities() -> dict:
    """The Feast entities, one per scored entity; every feature view refers to these objects. (Feast is imported
    here, not at import of this module: the service reads the stored rows without it.)"""
    from feast import Entity
    from feast.value_type import ValueType

    return {name: Entity(name=name, join_keys=[key], value_type=ValueType.STRING, description=text)
            for name, (key, text) in ENTITY_KEYS.items()}


def config_digest(config: FeatureConfig) -> str:
    """A short digest of a feature configuration (the features it builds and how), without ``excluded`` (which only
    decides what a model reads of the same table): two models whose digests agree read the same stored rows."""
    canonical = config.model_copy(update={"excluded": ()}).model_dump_json()
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def stored_columns(config: FeatureConfig, entity: EntityName) -> list[str]:
    """The columns a stored row holds beyond its join key: the other keys (a lead's ``account_id``) and every
    declared feature, in ``build_features``' order."""
    keys = [k for k in KEY_COLUMNS[entity] if k != KEY_COLUMNS[entity][0]]
    return keys + [s.name for s in feature_specs(config, entity)]


@dataclass(frozen=True)
class RowLayout:
    """How one stored row is packed: the numeric features (float, int, bool) as one float64 vector, in declaration
    order, and the text columns (the other keys, categories, strings) as a list of text or None."""

    numeric: tuple[str, ...]
    text: tuple[str, ...]
    bools: frozenset[str] = frozenset()
    """The numeric features declared ``bool`` (stored as 0/1)."""

    @classmethod
    def of(cls, config: FeatureConfig, entity: EntityName) -> RowLayout:
        specs = feature_specs(config, entity)
        keys = tuple(k for k in KEY_COLUMNS[entity] if k != KEY_COLUMNS[entity][0])
        return cls(numeric=tuple(s.name for s in specs if s.dtype in ("float", "int", "bool")),
                   text=keys + tuple(s.name for s in specs if s.dtype not in ("float", "int", "bool")),
                   bools=frozenset(s.name for s in specs if s.dtype == "bool"))


def feature_view(name: str, config: FeatureConfig, entity: EntityName, source: Path):
    """The Feast feature view of ``build_features(..., entity=entity, config=config)``'s table, stored as ``name``
    (its Parquet copy at ``source``)."""
    from feast import FeatureView, Field, FileSource
    from feast.types import Bool, Float64, Int64, String

    types = {"float": Float64, "int": Int64, "bool": Bool, "category": String, "string": String}
    specs = feature_specs(config, entity)
    keys = [Field(name=k, dtype=String) for k in KEY_COLUMNS[entity] if k != KEY_COLUMNS[entity][0]]
    schema = keys + [Field(name=s.name, dtype=types[s.dtype], description=s.description) for s in specs]
    return FeatureView(
        name=name, entities=[feast_entities()[entity]], schema=schema, online=True, ttl=timedelta(0),
        source=FileSource(name=f"{name}_table", path=str(source), timestamp_field=TIMESTAMP),
        tags={"entity": entity, "config_digest": config_digest(config)},
        description=f"b2bscore {entity} features (feature configuration {config_digest(config)}), as of the batch "
                    "run's as-of time.")
