"""The connector's channels for direct data calls (connector/channel.py): only to a plain
HOST:PORT, never when direct_data is off, and at most MAX_DIRECT_CHANNELS of them."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from saeta import certs
from saeta.config import ConnectorConfig, load_connector_config
from saeta.connector import channel
from saeta.connector.channel import DirectChannels
from saeta.errors import DirectDataUnavailable


@pytest.fixture
def cfg(tmp_path: Path) -> ConnectorConfig:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "t1")
    path = tmp_path / "c.yaml"
    path.write_text(
        """
gateway: {grpc_uri: "gw.example.com:50051"}
mtls: {ca_cert: certs/ca.crt, client_cert: certs/clients/t1/client.crt, client_key: certs/clients/t1/client.key}
tenant: {id: t1}
datasets: {v: {type: csv, path: v.csv}}
"""
    )
    return load_connector_config(path)


@pytest.mark.parametrize(
    "address", ["unix:/run/saeta.sock", "dns:///evil.example:443", "evil.example", "evil.example:0", "a b:1", ""]
)
def test_a_data_address_that_is_not_host_and_port_is_refused(cfg: ConnectorConfig, address: str) -> None:
    async def main() -> None:
        direct = DirectChannels(cfg)
        with pytest.raises(DirectDataUnavailable):
            direct.doget(address)
        assert len(direct) == 0
        await direct.close()

    asyncio.run(main())


def test_a_connector_with_direct_data_off_sends_nowhere_else(cfg: ConnectorConfig) -> None:
    async def main() -> None:
        direct = DirectChannels(dataclasses.replace(cfg, direct_data=False))
        with pytest.raises(DirectDataUnavailable, match="direct_data: false"):
            direct.doget("10.0.0.2:9101")
        assert len(direct) == 0

    asyncio.run(main())


def test_channels_are_kept_per_address_and_bounded(cfg: ConnectorConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel, "MAX_DIRECT_CHANNELS", 3)

    async def main() -> None:
        direct = DirectChannels(cfg)
        first = direct.doget("10.0.0.1:9101")
        assert direct.doget("10.0.0.1:9101") is first  # one channel per replica
        for n in range(2, 6):
            direct.doget(f"10.0.0.{n}:9101")
        assert len(direct) == 3
        assert direct.doget("10.0.0.5:9101") is not first
        await direct.close()
        assert len(direct) == 0

    asyncio.run(main())
