"""The mapping file: how a user's export (file names, column names, values, date formats) maps onto the contract.

Example (YAML)::

    accounts:
      file: crm_companies.csv
      columns: {"Company ID": account_id, "Industry Vertical": industry}
      values: {industry: {"Tech": software}}
    activities:
      date_formats: {occurred_at: "%d/%m/%Y %H:%M"}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from b2bscore.config_io import load_model_file
from b2bscore.data.contract import TABLE_NAMES, TABLES, TableSpec


class TableMapping(BaseModel):
    """How one table of the export maps onto its contract table."""

    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)

    file: str | None = Field(None, description="File name in the data directory, instead of <table>.csv/.parquet.")
    columns: dict[str, str] = Field(default_factory=dict, description="{source column: contract column}.")
    values: dict[str, dict[str, str]] = Field(default_factory=dict, description="{contract column: {source value: contract value}}.")
    date_formats: dict[str, str] = Field(default_factory=dict, description="{contract column: strftime format}.")

    def check_against(self, spec: TableSpec) -> None:
        """Raise ValueError naming the field when a target column is not in ``spec`` or has the wrong kind."""
        valid = ", ".join(spec.column_names)
        targets = list(self.columns.values())
        for source, target in self.columns.items():
            if target not in spec.column_names:
                raise ValueError(f"{spec.name}.columns: {source!r} maps to {target!r}, which is not a column of "
                                 f"{spec.name}; valid columns are: {valid}")
            if targets.count(target) > 1:
                raise ValueError(f"{spec.name}.columns: several source columns map to {target!r}")
        for column in self.values:
            if column not in spec.column_names:
                raise ValueError(f"{spec.name}.values: {column!r} is not a column of {spec.name}; valid columns are: {valid}")
        datetimes = [c.name for c in spec.columns if c.kind == "datetime"]
        for column in self.date_formats:
            if column not in datetimes:
                raise ValueError(f"{spec.name}.date_formats: {column!r} is not a date column of {spec.name}; "
                                 f"date columns are: {', '.join(datetimes) or '(none)'}")
        if self.file is not None and (not self.file or Path(self.file).name != self.file):
            raise ValueError(f"{spec.name}.file: {self.file!r} must be a plain file name inside the data directory")


class MappingConfig(BaseModel):
    """Per-table mappings; a table left out is read as ``<table>.csv``/``<table>.parquet`` with contract names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accounts: TableMapping | None = None
    technographics: TableMapping | None = None
    activities: TableMapping | None = None
    intent: TableMapping | None = None
    leads: TableMapping | None = None
    opportunities: TableMapping | None = None
    revenue: TableMapping | None = None
    campaigns: TableMapping | None = None
    spend: TableMapping | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_tables(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [str(k) for k in data if k not in TABLE_NAMES]
            if unknown:
                raise ValueError(f"unknown table(s) {', '.join(map(repr, unknown))}; valid tables are: {', '.join(TABLE_NAMES)}")
        return data

    @model_validator(mode="after")
    def _known_columns(self) -> MappingConfig:
        for name in TABLE_NAMES:
            table = getattr(self, name)
            if table is not None:
                table.check_against(TABLES[name])
        return self

    def table(self, name: str) -> TableMapping:
        """The mapping of table ``name`` (an empty one when the file does not mention it)."""
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; tables are: {', '.join(TABLE_NAMES)}")
        return getattr(self, name) or TableMapping()


def load_mapping(path: Path) -> MappingConfig:
    """Read a YAML (.yaml/.yml) or TOML (.toml) mapping file; any problem raises ConfigError naming file and field."""
    return load_model_file(Path(path), MappingConfig)
