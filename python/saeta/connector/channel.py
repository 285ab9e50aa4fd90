"""The connector's gRPC channels to the gateway: mTLS credentials from its files, the
channel options (message limits, keepalive, no grpc retries: our backoff decides), the
raw DoGet method, and one log line for an RPC error."""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio

from saeta.config import ConnectorConfig
from saeta.core.tunnel_keepalive import KEEPALIVE_OPTIONS
from saeta.v1 import tunnel_pb2 as pb

DOGET_METHOD = "/saeta.v1.Tunnel/DoGet"
CONTROL_METHOD = "/saeta.v1.Tunnel/Control"


def channel_credentials(cfg: ConnectorConfig) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=cfg.ca_cert.read_bytes(),
        private_key=cfg.client_key.read_bytes(),
        certificate_chain=cfg.client_cert.read_bytes(),
    )


def channel_options(cfg: ConnectorConfig) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", cfg.max_message_bytes),
        ("grpc.max_receive_message_length", 4 * 1024 * 1024),
        *KEEPALIVE_OPTIONS,
        # Our own backoff decides when to dial again, not grpc's channel.
        ("grpc.enable_retries", 0),
    ]
    if cfg.server_name:
        options.append(("grpc.ssl_target_name_override", cfg.server_name))
    return options


def dial(cfg: ConnectorConfig, target: str) -> grpc.aio.Channel:
    """A channel to ``target`` with the connector's certificates and options."""
    return grpc.aio.secure_channel(target, channel_credentials(cfg), options=channel_options(cfg))


def doget_method(channel: grpc.aio.Channel) -> grpc.aio.StreamUnaryMultiCallable:
    """DoGet on ``channel``: raw ArrowChunk messages out (hand-encoded), the summary back."""
    return channel.stream_unary(DOGET_METHOD, request_serializer=None, response_deserializer=pb.DoGetSummary.FromString)


def describe_rpc_error(exc: grpc.aio.AioRpcError) -> str:
    """One line for logs and `connector test`: the status and the gateway's reason."""
    details = exc.details() or ""
    return f"{exc.code().name}: {details}".strip()
