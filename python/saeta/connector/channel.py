"""The connector's gRPC channels to the gateway: mTLS credentials from its files, the
channel options (message limits, keepalive, no grpc retries: our backoff decides), the
raw DoGet method, the channels of direct data calls, and one log line for an RPC error."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import grpc.aio

from saeta.config import ConnectorConfig
from saeta.core.grpc_target import host_of, is_host_port
from saeta.core.tunnel_keepalive import KEEPALIVE_OPTIONS
from saeta.errors import DirectDataUnavailable
from saeta.v1 import tunnel_pb2 as pb

DOGET_METHOD = "/saeta.v1.Tunnel/DoGet"
CONTROL_METHOD = "/saeta.v1.Tunnel/Control"


def channel_credentials(cfg: ConnectorConfig) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=cfg.ca_cert.read_bytes(),
        private_key=cfg.client_key.read_bytes(),
        certificate_chain=cfg.client_cert.read_bytes(),
    )


def channel_options(cfg: ConnectorConfig, server_name: str | None = None) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", cfg.max_message_bytes),
        ("grpc.max_receive_message_length", 4 * 1024 * 1024),
        *KEEPALIVE_OPTIONS,
        # Our own backoff decides when to dial again, not grpc's channel.
        ("grpc.enable_retries", 0),
    ]
    name = cfg.server_name or server_name
    if name:
        options.append(("grpc.ssl_target_name_override", name))
    return options


def dial(cfg: ConnectorConfig, target: str, server_name: str | None = None) -> grpc.aio.Channel:
    """A channel to ``target`` with the connector's certificates and options; the server's
    certificate is checked against gateway.server_name, else ``server_name``, else the
    target's host."""
    return grpc.aio.secure_channel(target, channel_credentials(cfg), options=channel_options(cfg, server_name))


def doget_method(channel: grpc.aio.Channel) -> grpc.aio.StreamUnaryMultiCallable:
    """DoGet on ``channel``: raw ArrowChunk messages out (hand-encoded), the summary back."""
    return channel.stream_unary(DOGET_METHOD, request_serializer=None, response_deserializer=pb.DoGetSummary.FromString)


def describe_rpc_error(exc: grpc.aio.AioRpcError) -> str:
    """One line for logs and `connector test`: the status and the gateway's reason."""
    details = exc.details() or ""
    return f"{exc.code().name}: {details}".strip()


# Distinct replicas a tunnel sends direct data calls to, each over a channel kept open.
MAX_DIRECT_CHANNELS = 64
# How long a channel dropped from the cache keeps serving the calls already on it.
DROPPED_CHANNEL_GRACE = 300.0


class DirectChannels:
    """Direct data (docs/scaling.md): one channel per gateway replica a tunnel's data
    calls are sent to (DoGetRequest.data_address), at most MAX_DIRECT_CHANNELS, the least
    recently used dropped first. Their certificates are checked against the tunnel's own
    gateway name: every replica presents the gateway's certificate."""

    def __init__(self, cfg: ConnectorConfig) -> None:
        self.cfg = cfg
        self._server_name = host_of(cfg.grpc_uri)
        self._channels: dict[str, tuple[grpc.aio.Channel, grpc.aio.StreamUnaryMultiCallable]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def doget(self, address: str) -> grpc.aio.StreamUnaryMultiCallable:
        """DoGet at ``address``; DirectDataUnavailable unless it is a plain host:port."""
        if not self.cfg.direct_data:
            raise DirectDataUnavailable("this connector sends data calls only to its own gateway (direct_data: false)")
        if not is_host_port(address):
            raise DirectDataUnavailable("the gateway named a data address that is not HOST:PORT")
        entry = self._channels.pop(address, None)
        if entry is None:
            if len(self._channels) >= MAX_DIRECT_CHANNELS:
                oldest = next(iter(self._channels))
                channel, _ = self._channels.pop(oldest)
                task = asyncio.ensure_future(channel.close(grace=DROPPED_CHANNEL_GRACE))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            channel = dial(self.cfg, address, self._server_name)
            entry = (channel, doget_method(channel))
        self._channels[address] = entry  # newest last
        return entry[1]

    def __len__(self) -> int:
        return len(self._channels)

    async def close(self) -> None:
        for channel, _ in self._channels.values():
            await channel.close(grace=None)
        self._channels.clear()
        for task in list(self._closing):
            task.cancel()
