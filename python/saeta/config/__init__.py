"""Configuration: each process's file is parsed and validated once, at startup, into a
frozen dataclass. Every refusal names the file and the dotted key (``ConfigError``).
Relative paths resolve against the config file's folder. Keys are documented in
docs/configuration.md. One module per process's file; the shared parsing in _base.py."""

from saeta.config._base import LoggingConfig, load_yaml, resolve
from saeta.config.connector import (
    ConnectorConfig,
    DatasetConfig,
    KeyRanges,
    LiveConfig,
    SqlDataset,
    braced,
    load_connector_config,
    sqlserver_connection_string,
)
from saeta.config.control_plane import ControlPlaneConfig, default_admin_token_file, load_control_plane_config
from saeta.config.gateway import GatewayConfig, ReplicaConfig, load_gateway_config
from saeta.errors import ConfigError

__all__ = [
    "ConfigError",
    "ConnectorConfig",
    "ControlPlaneConfig",
    "DatasetConfig",
    "GatewayConfig",
    "KeyRanges",
    "LiveConfig",
    "LoggingConfig",
    "ReplicaConfig",
    "SqlDataset",
    "braced",
    "default_admin_token_file",
    "load_connector_config",
    "load_control_plane_config",
    "load_gateway_config",
    "load_yaml",
    "resolve",
    "sqlserver_connection_string",
]
