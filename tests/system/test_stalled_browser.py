"""A browser that stops reading: flow control first slows only its own queries, then,
after websocket.stalled_seconds with nothing taken, the gateway closes its socket with
4008 and its query stops down to the connector's reader. Another session on the same
connector runs its queries meanwhile."""

from __future__ import annotations

import asyncio
import json

import pytest
from saeta.client import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.system.harness import BIG_FILE_ROWS, Deployment, big_dataset, wait_for

pytestmark = pytest.mark.system


def test_a_browser_that_stops_reading_is_closed_with_4008(deployment: Deployment) -> None:
    deployment.start_control_plane()
    gateway = deployment.start_gateway(websocket={"stalled_seconds": 2})
    big = big_dataset(deployment.root)
    one = {"type": "parquet", "path": big["path"][0]}  # one file of the many "big" names
    connector = deployment.start_connector("acme", {"big": big, "one": one})

    async def main() -> None:
        url = f"{deployment.ws_url}/stream/{deployment.session('acme')}"
        # A receive queue of one frame, never read: the client's socket fills and stays full.
        async with connect(url, compression=None, max_size=None, max_queue=1) as ws:
            await ws.send(json.dumps({"action": "query", "id": "stuck", "dataset": "big"}))
            await asyncio.to_thread(
                wait_for, lambda: "code=CLIENT_TOO_SLOW" in gateway.text(), 60, "the gateway to give up on the socket"
            )
            # Meanwhile and after, another session gets whole answers from the same connector.
            other = await asyncio.to_thread(_other_session_rows, deployment)
            assert other == BIG_FILE_ROWS
            # Reading again, the stuck client finds the close code after what was buffered.
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 60)
            assert ws.close_code == 4008

    asyncio.run(main())
    wait_for(lambda: "cancelled; source closed" in connector.text(), 30, "the connector to stop reading")


def _other_session_rows(deployment: Deployment) -> int:
    with Client.connect(deployment.ws_url, deployment.session("acme")) as client:
        return client.query("one", ["id"]).num_rows
