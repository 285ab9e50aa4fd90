"""Secrets out of config files and command lines (docs/configuration.md): the shared key
inline, from a file or from an environment variable, exactly one of them; the control
plane's admin token from an environment variable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from saeta import certs
from saeta.config import load_control_plane_config, load_gateway_config
from saeta.errors import ConfigError

SECRET = "s" * 40


def gateway(tmp_path: Path, **keys: object) -> Path:
    certs.init_ca(tmp_path / "certs")
    path = tmp_path / "gw.yaml"
    path.write_text(json.dumps({"control_plane_url": "http://cp", **keys}))
    return path


def test_the_key_comes_from_a_file_or_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "key").write_text(f"  {SECRET}\n")
    assert load_gateway_config(gateway(tmp_path, tableros_secret_key_file="key")).secret_key == SECRET
    monkeypatch.setenv("SAETA_TEST_KEY", SECRET)
    assert load_gateway_config(gateway(tmp_path, tableros_secret_key_env="SAETA_TEST_KEY")).secret_key == SECRET
    assert load_gateway_config(gateway(tmp_path, tableros_secret_key=SECRET)).secret_key == SECRET


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ({}, "tableros_secret_key: missing (required; or tableros_secret_key_file, or tableros_secret_key_env)"),
        ({"tableros_secret_key": SECRET, "tableros_secret_key_env": "X"}, "give only one of"),
        ({"tableros_secret_key_file": "nope"}, "tableros_secret_key_file: file not found"),
        ({"tableros_secret_key_env": "SAETA_TEST_UNSET"}, "the environment variable SAETA_TEST_UNSET is not set"),
        ({"tableros_secret_key_file": "short"}, "tableros_secret_key_file: must be at least 32 characters"),
    ],
)
def test_a_bad_source_is_refused_naming_its_key(tmp_path: Path, keys: dict[str, object], says: str) -> None:
    (tmp_path / "short").write_text("too short")
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        load_gateway_config(gateway(tmp_path, **keys))


def test_the_admin_token_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cp.yaml"
    monkeypatch.setenv("SAETA_TEST_ADMIN", "a" * 20)
    path.write_text(json.dumps({"tableros_secret_key": SECRET, "admin_token_env": "SAETA_TEST_ADMIN"}))
    assert load_control_plane_config(path).admin_token == "a" * 20
    path.write_text(json.dumps({"tableros_secret_key": SECRET, "admin_token_env": "SAETA_TEST_NOPE"}))
    with pytest.raises(ConfigError, match="admin_token_env: the environment variable SAETA_TEST_NOPE is not set"):
        load_control_plane_config(path)
    monkeypatch.setenv("SAETA_TEST_ADMIN", "short")
    path.write_text(json.dumps({"tableros_secret_key": SECRET, "admin_token_env": "SAETA_TEST_ADMIN"}))
    with pytest.raises(ConfigError, match="admin_token_env: must be at least 16"):
        load_control_plane_config(path)
