"""saeta: stream Arrow data from customers' premises to browser dashboards.

Connectors dial out to a gateway over gRPC with mutual TLS; the gateway validates browser
sessions against a control plane and relays Arrow IPC to browsers over WebSocket.
"""

from __future__ import annotations

from saeta.errors import SaetaError

__version__ = "0.1.0"
__all__ = ["SaetaError", "__version__"]
