"""Run an ASGI app with uvicorn in a background thread (for simulators and tests)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class ServerHandle:
    """A running uvicorn server; ``stop()`` shuts it down and joins the thread."""

    host: str
    port: int
    server: uvicorn.Server = field(repr=False)
    thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8701``."""
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():  # stuck on a long request: drop it
            self.server.force_exit = True
            self.thread.join(timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # signals belong to the main thread
        return None


def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 15.0
) -> ServerHandle:
    """Run ``app`` on ``host:port`` (0 = ephemeral) in a thread; return when it accepts connections."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="auto",
        loop="asyncio",
        timeout_graceful_shutdown=2,
    )
    server = _ThreadServer(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve())
        except BaseException as exc:  # noqa: BLE001 - surfaced to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{host}:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if errors or not thread.is_alive():
            raise RuntimeError(f"server on {host}:{port} failed to start") from (
                errors[0] if errors else None
            )
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"server on {host}:{port} did not start within {startup_timeout}s")
        time.sleep(0.01)
    bound = port
    for srv in server.servers:
        for sock in srv.sockets:
            bound = sock.getsockname()[1]
            break
    return ServerHandle(host=host, port=bound, server=server, thread=thread)
