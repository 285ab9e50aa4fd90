"""A TCP proxy of the tests' own, between a connector and a gateway, that can stall the
connection (stop forwarding both ways, sockets left open: a half-open peer, as a dead
NAT or a pulled cable leaves it), resume it, or reset it; it counts the bytes it passes."""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field


@dataclass
class TcpProxy:
    upstream: tuple[str, int]
    port: int = 0
    _listener: socket.socket | None = None
    _open: set[socket.socket] = field(default_factory=set)
    _flowing: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: bool = False
    accepted: int = 0
    forwarded: int = 0  # bytes passed on, both ways

    def start(self) -> TcpProxy:
        self._flowing.set()
        listener = socket.create_server(("127.0.0.1", 0))
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()
        return self

    def stall(self) -> None:
        """Stops forwarding in both directions; every socket stays open."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def reset(self) -> None:
        """Closes every proxied connection with a TCP reset."""
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # Wakes a pump blocked reading an idle connection (close alone would wait
                # for its next byte), sending nothing: the reset goes out as the socket closes.
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
            finally:
                sock.close()

    def stop(self) -> None:
        self._stopped = True
        self._flowing.set()
        if self._listener is not None:
            self._listener.close()
        self.reset()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, server}
                self.accepted += 1
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True, name="proxy-pump").start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                self._flowing.wait()
                data = src.recv(65536)
                if not data:
                    break
                self._flowing.wait()  # a stall holds what was read, too
                dst.sendall(data)
                with self._lock:
                    self.forwarded += len(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
