"""HTTP/2 over cleartext (h2c, "prior knowledge") beside uvicorn's HTTP/1.1, on the same port.

Why: the AWS SDK for Java v2 talks to Kinesis over HTTP/2 only (its async client defaults to
it, and SubscribeToShard needs it), and with an ``http://`` endpoint it sends the HTTP/2
connection preface straight away. The KCL, the Spark and Flink connectors and every Java
consumer therefore fail against an HTTP/1.1-only emulator with "First received frame was not
SETTINGS" (moto issue #5130, ministack issue #361). uvicorn serves HTTP/1.1 only.

:class:`SniffingProtocol` is handed to uvicorn as its HTTP protocol class. It looks at the
first bytes of each connection: the HTTP/2 preface (RFC 9113 section 3.4) switches the
connection to :class:`H2Protocol`; anything else goes to uvicorn's own httptools protocol,
untouched (one ``set_protocol`` per connection). :class:`H2Protocol` frames with the ``h2``
library (python-hyper) and runs each stream as one ASGI ``http`` request on the same app,
with ``http_version`` "2"; response bodies stream, so event streams work over it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# Headers HTTP/2 forbids (RFC 9113 section 8.2.2): HTTP/1.1 connection management.
_HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"proxy-connection"}
log = logging.getLogger("bdlab.http2")


class SniffingProtocol(asyncio.Protocol):
    """uvicorn's HTTP protocol class: routes each connection to HTTP/1.1 or h2c by its
    first bytes. Constructed by uvicorn as ``cls(config=, server_state=, app_state=, _loop=)``.
    """

    def __init__(self, config: Any, server_state: Any, app_state: Any, _loop: Any = None):
        self._args = (config, server_state, app_state, _loop)
        self._transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        n = min(len(self._buffer), len(PREFACE))
        if self._buffer[:n] == PREFACE[:n] and n < len(PREFACE):
            return  # could still be the preface: wait for the rest of it
        inner: asyncio.Protocol
        if self._buffer.startswith(PREFACE):
            inner = H2Protocol(*self._args)
        else:
            inner = HttpToolsProtocol(*self._args)
        assert self._transport is not None
        self._transport.set_protocol(inner)
        inner.connection_made(self._transport)
        buffered, self._buffer = self._buffer, b""
        inner.data_received(buffered)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


class _Stream:
    """One HTTP/2 stream: the request body as it arrives, and the response's send window."""

    def __init__(self) -> None:
        self.body: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.window = asyncio.Event()  # set when the peer opens its flow-control window
        self.gone = asyncio.Event()  # set when the stream is reset or the connection drops
        self.closed = False


class H2Protocol(asyncio.Protocol):
    """A server-side HTTP/2 connection whose streams are ASGI requests to uvicorn's app."""

    def __init__(self, config: Any, server_state: Any, app_state: Any, _loop: Any = None):
        if not config.loaded:
            config.load()
        self.app = config.loaded_app
        self.root_path = config.root_path
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.app_state = app_state
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.streams: dict[int, _Stream] = {}
        self.transport: asyncio.Transport | None = None
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None

    # -------------------------------------------------------------- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)
        sock = transport.get_extra_info("sockname")
        peer = transport.get_extra_info("peername")
        self.server = (str(sock[0]), int(sock[1])) if sock else None
        self.client = (str(peer[0]), int(peer[1])) if peer else None
        # Large first windows: API bodies (PutRecords, 5 MiB) arrive without a window dance.
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 16 * 1024 * 1024})
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(64 * 1024 * 1024)
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            log.debug("h2 protocol error: %s", exc)
            self._flush()
            if self.transport is not None:
                self.transport.close()
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                self._start(ev.stream_id, ev.headers, ended=ev.stream_ended is not None)
            elif isinstance(ev, h2.events.DataReceived):
                st = self.streams.get(ev.stream_id)
                if st is not None:
                    st.body.put_nowait(ev.data)
                # The app reads bodies whole: give the window back at once, for the
                # connection and the stream (h2's acknowledge_received_data waits until half
                # of a window is used, which stalls a client still on the 64 KiB default).
                n = ev.flow_controlled_length
                if n:
                    self.conn.increment_flow_control_window(n)
                    if not ev.stream_ended:
                        with contextlib.suppress(h2.exceptions.StreamClosedError):
                            self.conn.increment_flow_control_window(n, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                st = self.streams.get(ev.stream_id)
                if st is not None:
                    st.body.put_nowait(None)
            elif isinstance(ev, h2.events.StreamReset):
                self._drop(ev.stream_id)
            elif isinstance(ev, h2.events.WindowUpdated):
                targets = (
                    self.streams.values()
                    if ev.stream_id == 0
                    else [s for k, s in self.streams.items() if k == ev.stream_id]
                )
                for st in targets:
                    st.window.set()
            elif isinstance(ev, h2.events.ConnectionTerminated):
                if self.transport is not None:
                    self.transport.close()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        for sid in list(self.streams):
            self._drop(sid)
        self.transport = None

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: no new streams, close once the open ones finish."""
        self.conn.close_connection()
        self._flush()
        if not self.streams and self.transport is not None:
            self.transport.close()

    # -------------------------------------------------------------- streams
    def _flush(self) -> None:
        out = self.conn.data_to_send()
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)

    def _drop(self, sid: int) -> None:
        st = self.streams.pop(sid, None)
        if st is not None:
            st.closed = True
            st.body.put_nowait(None)
            st.window.set()
            st.gone.set()

    def _start(self, sid: int, raw: list[tuple[bytes, bytes]], ended: bool) -> None:
        pseudo = {k: v for k, v in raw if k.startswith(b":")}
        headers = [(k.lower(), v) for k, v in raw if not k.startswith(b":")]
        if b":authority" in pseudo and not any(k == b"host" for k, _ in headers):
            headers.append((b"host", pseudo[b":authority"]))
        path, _, query = pseudo.get(b":path", b"/").partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "2",
            "server": self.server,
            "client": self.client,
            "scheme": pseudo.get(b":scheme", b"http").decode("latin-1"),
            "method": pseudo.get(b":method", b"GET").decode("latin-1"),
            "root_path": self.root_path,
            "path": unquote(path.decode("latin-1")),
            "raw_path": path,
            "query_string": query,
            "headers": headers,
            "state": self.app_state.copy(),
        }
        st = _Stream()
        self.streams[sid] = st
        if ended:
            st.body.put_nowait(None)
        task = asyncio.get_running_loop().create_task(self._run(sid, st, scope))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, sid: int, st: _Stream, scope: dict[str, Any]) -> None:
        started: dict[str, Any] = {}
        body_done = False

        async def receive() -> dict[str, Any]:
            nonlocal body_done
            if body_done or st.closed:
                await st.gone.wait()  # ASGI: after the body, receive() waits for a disconnect
                return {"type": "http.disconnect"}
            chunk = await st.body.get()
            if chunk is None:
                body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": chunk, "more_body": True}

        async def send(message: dict[str, Any]) -> None:
            if st.closed:
                return
            if message["type"] == "http.response.start":
                started["status"] = message["status"]
                started["headers"] = [
                    (bytes(k).lower(), bytes(v))
                    for k, v in message.get("headers", [])
                    if bytes(k).lower() not in _HOP_BY_HOP
                ]
                return
            if message["type"] != "http.response.body":
                return
            if "sent" not in started:
                started["sent"] = True
                self.conn.send_headers(
                    sid, [(b":status", str(started["status"]).encode()), *started["headers"]]
                )
            await self._send_data(sid, st, message.get("body", b""))
            if not message.get("more_body", False) and not st.closed:
                self.conn.end_stream(sid)
                self._flush()
                self.streams.pop(sid, None)
                st.gone.set()
                if self.conn.state_machine.state == h2.connection.ConnectionState.CLOSED:
                    if not self.streams and self.transport is not None:
                        self.transport.close()

        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("ASGI app failed on an HTTP/2 stream")
            if sid in self.streams and "sent" not in started:
                with contextlib.suppress(h2.exceptions.H2Error):
                    self.conn.send_headers(sid, [(b":status", b"500")], end_stream=True)
                    self._flush()
            self.streams.pop(sid, None)

    async def _send_data(self, sid: int, st: _Stream, data: bytes) -> None:
        """Send ``data`` on stream ``sid`` as the peer's flow-control windows allow."""
        view = memoryview(data)
        while view and not st.closed:
            try:
                window = self.conn.local_flow_control_window(sid)
            except h2.exceptions.StreamClosedError:
                st.closed = True
                return
            if window <= 0:
                st.window.clear()
                await st.window.wait()
                continue
            n = min(window, self.conn.max_outbound_frame_size, len(view))
            self.conn.send_data(sid, view[:n].tobytes())
            self._flush()
            view = view[n:]
