"""The ``https`` section and ``forwarded_allow_ips`` (docs/configuration.md), read the same
by the gateway and the control plane."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from saeta import certs
from saeta.config import load_control_plane_config, load_gateway_config
from saeta.config.https import DEFAULT_HSTS_SECONDS, LOOPBACK_PROXIES
from saeta.errors import ConfigError

SECRET = "s" * 40


def gateway(tmp_path: Path, **keys: object) -> Path:
    certs.init_ca(tmp_path / "certs")
    path = tmp_path / "gw.yaml"
    path.write_text(json.dumps({"control_plane_url": "https://cp", "tableros_secret_key": SECRET, **keys}))
    return path


def test_defaults_plain_http_and_loopback_proxies(tmp_path: Path) -> None:
    cfg = load_gateway_config(gateway(tmp_path))
    assert not cfg.https.enabled and cfg.https.hsts_seconds == DEFAULT_HSTS_SECONDS
    assert cfg.forwarded_allow_ips == LOOPBACK_PROXIES and cfg.control_plane_ca is None


def test_https_files_and_proxies_are_read(tmp_path: Path) -> None:
    https = {"cert": "certs/server.crt", "key": "certs/server.key", "reload_seconds": 5, "hsts_seconds": 0}
    cfg = load_gateway_config(
        gateway(tmp_path, https=https, forwarded_allow_ips=["10.0.0.0/8", "::1"], control_plane_ca="certs/ca.crt")
    )
    assert cfg.https.cert == tmp_path / "certs" / "server.crt" and cfg.https.reload_seconds == 5
    assert cfg.https.hsts_seconds == 0 and cfg.forwarded_allow_ips == ("10.0.0.0/8", "::1")
    assert cfg.control_plane_ca == tmp_path / "certs" / "ca.crt"
    plane = tmp_path / "cp.yaml"
    plane.write_text(json.dumps({"tableros_secret_key": SECRET, "https": https, "forwarded_allow_ips": []}))
    cp = load_control_plane_config(plane)
    assert cp.https.enabled and cp.forwarded_allow_ips == ()


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ({"https": {"cert": "certs/server.crt"}}, "https.key: cert and key go together"),
        ({"https": {"key": "certs/server.key"}}, "https.cert: cert and key go together"),
        ({"https": {"cert": "nope.crt", "key": "certs/server.key"}}, "https.cert: file not found"),
        ({"https": {"certificate": "x"}}, "https.certificate"),
        ({"https": {"reload_seconds": 0}}, "https.reload_seconds"),
        ({"forwarded_allow_ips": ["*"]}, "forwarded_allow_ips[0]: expected an IP address or network"),
        ({"forwarded_allow_ips": ["127.0.0.1", "proxy.local"]}, "forwarded_allow_ips[1]"),
        ({"control_plane_ca": "nope.pem"}, "control_plane_ca: file not found"),
    ],
)
def test_bad_values_name_their_key(tmp_path: Path, keys: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=rf"{says.replace('[', '.').replace(']', '.')}"):
        load_gateway_config(gateway(tmp_path, **keys))
