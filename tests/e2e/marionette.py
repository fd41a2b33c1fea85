"""A minimal Marionette client: the protocol Firefox itself speaks (geckodriver is a translator in front of it).

Debian packages no geckodriver and playwright's Firefox is a patched build that Debian's ``firefox-esr`` is not, so
the Firefox end-to-end tests speak Marionette directly: ``<length>:<json>`` frames over TCP, commands
``[0, id, name, params]``, answers ``[1, id, error, result]`` (https://firefox-source-docs.mozilla.org/testing/marionette/Protocol.html).
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class MarionetteError(RuntimeError):
    pass


class Marionette:
    def __init__(self, port: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self._sock.settimeout(120)
        self._buf = b""
        self._id = 0
        self._read()  # the server's hello

    def _read(self) -> Any:
        while b":" not in self._buf:
            self._recv()
        head, _, rest = self._buf.partition(b":")
        length = int(head)
        while len(rest) < length:
            self._recv()
            head, _, rest = self._buf.partition(b":")
        self._buf = rest[length:]
        return json.loads(rest[:length])

    def _recv(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise MarionetteError("Firefox closed the Marionette connection")
        self._buf += chunk

    def send(self, name: str, params: dict[str, Any] | None = None) -> Any:
        self._id += 1
        data = json.dumps([0, self._id, name, params or {}]).encode()
        self._sock.sendall(str(len(data)).encode() + b":" + data)
        while True:
            msg = self._read()
            if msg[0] == 1 and msg[1] == self._id:
                if msg[2]:
                    raise MarionetteError(f"{name}: {msg[2].get('error')}: {msg[2].get('message')}")
                return msg[3]

    def value(self, name: str, params: dict[str, Any] | None = None) -> Any:
        result = self.send(name, params)
        return result.get("value") if isinstance(result, dict) else result

    def close(self) -> None:
        self._sock.close()
