"""Reading typed configuration files (YAML or TOML) at the edge of the system."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from b2bscore.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_config_mapping(path: Path) -> dict:
    """Parse a YAML or TOML file into a dict; every failure is a ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
        if suffix == ".toml":
            raw = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            raw = yaml.safe_load(text)
        else:
            raise ConfigError(f"config file {path}: unsupported extension {suffix!r}; use .yaml, .yml or .toml")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path} is not valid {suffix.lstrip('.').upper()}: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping of fields, got {type(raw).__name__}")
    return raw


def format_validation_error(exc: ValidationError, *, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        location = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"  - {location}: {err['msg']}")
    return "\n".join(lines)


def load_model_file(path: Path, model: type[ModelT]) -> ModelT:
    """Read ``path`` into the pydantic ``model``; an invalid field raises ConfigError naming it."""
    raw = read_config_mapping(path)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source=f"config file {path}")) from exc
