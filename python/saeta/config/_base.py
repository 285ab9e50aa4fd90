"""The parsing every config file shares: a section that tracks the keys it read and
names the file and dotted key in each refusal, path resolution, logging, hosts, origins
and the Redis URL."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from saeta import extras
from saeta.core.redis_address import url_problem
from saeta.core.session_token import MIN_SECRET_CHARS
from saeta.errors import ConfigError

MAX_CONFIG_BYTES = 1024 * 1024
_REQUIRED: Any = object()


class _Section:
    """Typed access to one mapping of a config file, with error messages naming the key."""

    def __init__(self, file: Path, data: Mapping[str, Any], prefix: str = "") -> None:
        self.file, self.data, self.prefix = file, data, prefix
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.key(name)}: {problem}")

    def raw(self, name: str, default: Any = _REQUIRED) -> Any:
        self.used.add(name)
        if name not in self.data or self.data[name] is None:
            if default is _REQUIRED:
                raise self.fail(name, "missing (required)")
            return default
        return self.data[name]

    def section(self, name: str, required: bool = False) -> _Section:
        value = self.raw(name, _REQUIRED if required else {})
        if not isinstance(value, Mapping):
            raise self.fail(name, f"expected a mapping, got {type(value).__name__}")
        return _Section(self.file, value, f"{self.key(name)}.")

    def string(self, name: str, default: Any = _REQUIRED, choices: tuple[str, ...] = ()) -> Any:
        value = self.raw(name, default)
        if value is default:  # an absent optional key (raw() raised for a required one)
            return value
        if not isinstance(value, str):
            raise self.fail(name, f"expected a string, got {type(value).__name__}")
        if choices and value not in choices:
            raise self.fail(name, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def integer(self, name: str, default: Any = _REQUIRED, lo: int = 0, hi: int = 2**31) -> Any:
        value = self.raw(name, default)
        if value is default:  # an absent optional key (raw() raised for a required one)
            return value
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise self.fail(name, f"expected an integer from {lo} to {hi}, got {value!r}")
        return value

    def number(self, name: str, default: Any = _REQUIRED, lo: float = 0.0, hi: float = 1e9) -> Any:
        value = self.raw(name, default)
        if value is default:  # an absent optional key (raw() raised for a required one)
            return value
        if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
            raise self.fail(name, f"expected a number from {lo} to {hi}, got {value!r}")
        return float(value)

    def boolean(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.raw(name, default)
        if value is default:
            return value
        if not isinstance(value, bool):
            raise self.fail(name, f"expected true or false, got {type(value).__name__}")
        return value

    def str_list(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.raw(name, default)
        if value is default:  # an absent optional key (raw() raised for a required one)
            return value
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(name, "expected a list of strings")
        return tuple(value)

    def readable_file(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.string(name, default)
        if value is default:  # an absent optional key (raw() raised for a required one)
            return value
        path = resolve(self.file, value)
        if not path.is_file():
            raise self.fail(name, f"file not found: {path}")
        if not os.access(path, os.R_OK):
            raise self.fail(name, f"file not readable: {path}")
        return path

    def secret(self, name: str, min_chars: int = MIN_SECRET_CHARS, required: bool = True) -> Any:
        """A secret given in exactly one of three ways: ``name`` inline, ``name_file`` (a
        file holding it; surrounding whitespace dropped) or ``name_env`` (the name of an
        environment variable holding it), so that it need not sit in the config file.
        None when absent and not ``required``."""
        given = [k for k in (name, f"{name}_file", f"{name}_env") if self.data.get(k) is not None]
        for key in (name, f"{name}_file", f"{name}_env"):
            self.used.add(key)
        if len(given) > 1:
            raise self.fail(given[1], f"give only one of {', '.join(given)}")
        if not given:
            if not required:
                return None
            raise self.fail(name, f"missing (required; or {name}_file, or {name}_env)")
        key = given[0]
        if key == name:
            value: str = self.string(name)
        elif key.endswith("_file"):
            path = self.readable_file(key)
            try:
                value = path.read_text().strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise self.fail(key, f"cannot read {path}: {exc}") from None
        else:
            variable = self.string(key)
            value = os.environ.get(variable, "")
            if not value:
                raise self.fail(key, f"the environment variable {variable} is not set")
        if len(value) < min_chars:
            raise self.fail(key, f"must be at least {min_chars} characters")
        return value

    def check_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key")


def resolve(config_file: Path, value: str) -> Path:
    """A path from a config file: absolute, or relative to the file's folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (config_file.parent / path)


def load_yaml(path: str | os.PathLike[str]) -> tuple[Path, _Section]:
    file = Path(path)
    try:
        if file.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{file}: larger than {MAX_CONFIG_BYTES} bytes")
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{file}: expected a mapping at the top level")
    return file.resolve(), _Section(file.resolve(), data)


# --------------------------------------------------------------------------- logging


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["text", "json"]


@dataclass(frozen=True)
class LoggingConfig:
    level: LogLevel = "INFO"
    format: LogFormat = "text"
    file: Path | None = None  # lines go to this file (rotated by size) instead of stderr
    max_bytes: int = 10 * 1024 * 1024  # the file's size before it is rotated
    backups: int = 5  # rotated files kept


def _logging(root: _Section) -> LoggingConfig:
    sec = root.section("logging")
    level = sec.string("level", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise sec.fail("level", f"expected DEBUG, INFO, WARNING or ERROR, got {level!r}")
    file_value = sec.string("file", None)
    log_file = resolve(sec.file, file_value) if file_value is not None else None
    if log_file is not None and not log_file.parent.is_dir():
        raise sec.fail("file", f"folder does not exist: {log_file.parent}")
    cfg = LoggingConfig(
        level=level,
        format=sec.string("format", "text", ("text", "json")),
        file=log_file,
        max_bytes=sec.integer("max_bytes", LoggingConfig.max_bytes, 64 * 1024, 2**40),
        backups=sec.integer("backups", LoggingConfig.backups, 0, 1000),
    )
    sec.check_unknown()
    return cfg


# --------------------------------------------------------------------------- connector


def _hosts(root: _Section) -> tuple[str, ...]:
    """``allowed_hosts``: names a request's Host header may give for this service besides
    the loopback names (DNS rebinding), lowercased."""
    names = root.str_list("allowed_hosts", ())
    for i, name in enumerate(names):
        if not name or len(name) > 253 or any(c in name for c in "/:@ "):
            raise root.fail(f"allowed_hosts[{i}]", f"expected a host name without port or scheme, got {name!r}")
    return tuple(n.lower() for n in names)


def _origins(root: _Section) -> tuple[str, ...]:
    """``allowed_origins``: exact browser origins, ``scheme://host[:port]``."""
    origins: tuple[str, ...] = root.str_list("allowed_origins", ())
    for i, origin in enumerate(origins):
        if "://" not in origin or origin.rstrip("/") != origin or len(origin) > 512:
            raise root.fail(f"allowed_origins[{i}]", f"expected scheme://host[:port] without a path, got {origin!r}")
    return origins


def _redis_url(root: _Section) -> str | None:
    url: str | None = root.string("redis_url", None)
    problem = None if url is None else url_problem(url) or extras.missing_message("redis")
    if problem is not None:
        raise root.fail("redis_url", problem)
    return url
