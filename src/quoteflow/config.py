"""Configuration: one TOML file plus environment overrides.

Where the file is: the ``--config`` option, else ``$QUOTEFLOW_CONFIG``, else
``quoteflow.toml`` in the working directory if it exists; no file is fine.
Environment variables override the file: ``QUOTEFLOW_<SECTION>__<KEY>``, for
example ``QUOTEFLOW_BUS__PARTITIONS=8`` or ``QUOTEFLOW_ALPACA__SECRET_KEY=...``.

Secrets (API keys, passwords) are :class:`pydantic.SecretStr`: they print as
``**********`` and are never logged. A config file that holds a secret must
not be readable by group or others (``chmod 600``); quoteflow refuses it
otherwise. Prefer the environment for secrets.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from quoteflow.errors import ConfigError

__all__ = ["MASK", "Section", "SettingsBase", "load", "masked", "to_toml"]

DEFAULT_FILE = Path("quoteflow.toml")
MASK = "**********"


class Section(BaseModel):
    """A section of the configuration file: a component's settings; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class SettingsBase(BaseSettings):
    """Settings read from arguments, then ``QUOTEFLOW_<SECTION>__<KEY>``, then the TOML file."""

    model_config = SettingsConfigDict(
        env_prefix="QUOTEFLOW_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Take arguments first, then the environment, then the TOML file, if any."""
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


AnySettings = TypeVar("AnySettings", bound=SettingsBase)


def _find_file(path: str | Path | None) -> Path | None:
    if path is not None:
        chosen = Path(path)
        if not chosen.is_file():
            raise ConfigError(f"config file {chosen} does not exist")
        return chosen
    from_env = os.environ.get("QUOTEFLOW_CONFIG")
    if from_env:
        return _find_file(from_env)
    return DEFAULT_FILE if DEFAULT_FILE.is_file() else None


def _secret_keys(model: type[BaseModel]) -> set[str]:
    """Return the names of the secret fields of ``model`` and of its sections, at any depth."""
    names = set()
    for name, field in model.model_fields.items():
        if field.annotation == SecretStr | None:
            names.add(name)
        elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names |= _secret_keys(field.annotation)
    return names


def _holds_secret(value: Any, secrets: set[str], key: str = "") -> bool:
    if isinstance(value, dict):
        return any(_holds_secret(v, secrets, k) for k, v in value.items())
    return bool(value) and key in secrets


def _check_file(path: Path, secrets: set[str]) -> None:
    try:
        content = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
    mode = stat.S_IMODE(path.stat().st_mode)
    if _holds_secret(content, secrets) and mode & 0o077:
        raise ConfigError(
            f"config file {path} holds secrets but is readable by others (mode {mode:o}); "
            f"run: chmod 600 {path}"
        )


def load(settings_cls: type[AnySettings], path: str | Path | None = None) -> AnySettings:
    """Load ``settings_cls``: environment over the TOML file over defaults.

    Raises :class:`~quoteflow.errors.ConfigError` for a missing or unreadable
    file, a file with secrets readable by others, or invalid values (the message
    lists each bad key).
    """
    toml_file = _find_file(path)
    if toml_file is not None:
        _check_file(toml_file, _secret_keys(settings_cls))
    config = {**settings_cls.model_config, "toml_file": toml_file}
    from_file = type(settings_cls.__name__, (settings_cls,), {"model_config": config})
    try:
        return from_file()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc


def masked(settings: BaseModel) -> dict[str, Any]:
    """Return the settings as plain data with every secret replaced by a mask."""

    def mask(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return MASK if value.get_secret_value() else ""
        if isinstance(value, BaseModel):
            return {name: mask(getattr(value, name)) for name in type(value).model_fields}
        if isinstance(value, Path):
            return str(value)
        return value

    return mask(settings)


def _toml_value(value: Any) -> str:
    """Return ``value`` as a TOML value: JSON strings and numbers are TOML too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(pairs) + " }" if value else "{}"
    return json.dumps(value)


def _toml_sections(
    name: str, section: BaseModel, values: dict[str, Any], commented: bool
) -> list[str]:
    """Return the TOML lines of a section; unset options (all, if ``commented``) are comments."""
    lines = [f"[{name}]"]
    if commented:
        doc = (type(section).__doc__ or "").strip().splitlines()[0]
        lines.insert(0, f"# {doc}")
    nested = []
    for key, field in type(section).model_fields.items():
        value = values[key]
        if isinstance(value, dict) and isinstance(getattr(section, key), BaseModel):
            nested += ["", *_toml_sections(f"{name}.{key}", getattr(section, key), value,
                                           commented)]  # fmt: skip
            continue
        if commented and field.description:
            lines.append(f"# {key}: {field.description}")
        if value is None and field.default is not None:
            lines.append(f"{'# ' if commented else ''}{key} = false")  # a rule switched off
        elif value is None:
            lines.append(f"# {key} = (unset)")
        elif value == MASK:
            lines.append(f"# {key} = (a secret: set, not shown)")
        else:
            lines.append(f"{'# ' if commented else ''}{key} = {_toml_value(value)}")
    return lines + nested


def to_toml(settings: BaseModel, *, commented: bool = False) -> str:
    """Return the settings as a TOML file that ``--config`` reads back, secrets masked.

    Options without a value are comments. With ``commented`` every option is a
    comment showing its value and meaning: a sample file to edit.
    """
    values = masked(settings)
    lines: list[str] = []
    for name in type(settings).model_fields:
        lines += ["", *_toml_sections(name, getattr(settings, name), values[name], commented)]
    return "\n".join(lines[1:]) + "\n"
