"""kubectl's port-forward: SPDY/3.1 tunnelled inside a WebSocket (KEP-4006), server side, for the sandbox.

kubectl 1.31+ dials `GET .../pods/{name}/portforward` as a WebSocket with subprotocol
`SPDY/3.1+portforward.k8s.io` and runs a SPDY/3.1 session over the binary messages (client-go
tools/portforward/tunneling_connection.go: each Write is one binary message, reads concatenate them).
Per local connection it opens two SPDY streams with headers `streamtype: error|data`, `port: P`,
`requestid: N` (client-go tools/portforward/portforward.go handleConnection) and waits for a SYN_REPLY
on each. This module answers them the way the kubelet's SPDY port-forward handler does
(kubernetes/kubernetes pkg/kubelet/cri/streaming/portforward/httpstream.go): once both streams of a
request exist it dials the pod's port (streams.PodRuntime.upstream) and copies bytes both ways; a
refusal is written on the error stream; when the server side ends, both streams get FIN.

Frames (SPDY/3 draft, draft-mbelshe-httpbis-spdy-00 §2.2-§2.6): control frames SYN_STREAM, SYN_REPLY,
RST_STREAM, SETTINGS, PING (echoed), GOAWAY, WINDOW_UPDATE (ignored: client-go's moby/spdystream does no
flow control); DATA frames with FLAG_FIN. Header blocks are zlib streams primed with the SPDY/3
dictionary (§2.6.10.1), one compression context per direction for the whole session.

Boundary: imports no product code.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from dataclasses import dataclass, field

from starlette.websockets import WebSocket

from litemaas_state.sandbox.streams import CHUNK, FaultRegistry, Obj, PodRuntime, _Session

PROTOCOL = "SPDY/3.1+portforward.k8s.io"

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01

# The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1), 1423 bytes.
DICTIONARY = (
    b"\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post\x00\x00\x00\x03put\x00\x00"
    b"\x00\x06delete\x00\x00\x00\x05trace\x00\x00\x00\x06accept\x00\x00\x00\x0eaccept-charset\x00"
    b"\x00\x00\x0faccept-encoding\x00\x00\x00\x0faccept-language\x00\x00\x00\x0daccept-ranges\x00"
    b"\x00\x00\x03age\x00\x00\x00\x05allow\x00\x00\x00\x0dauthorization\x00\x00\x00\x0dcache-contr"
    b"ol\x00\x00\x00\x0aconnection\x00\x00\x00\x0ccontent-base\x00\x00\x00\x10content-encoding\x00"
    b"\x00\x00\x10content-language\x00\x00\x00\x0econtent-length\x00\x00\x00\x10content-location"
    b"\x00\x00\x00\x0bcontent-md5\x00\x00\x00\x0dcontent-range\x00\x00\x00\x0ccontent-type\x00\x00"
    b"\x00\x04date\x00\x00\x00\x04etag\x00\x00\x00\x06expect\x00\x00\x00\x07expires\x00\x00\x00"
    b"\x04from\x00\x00\x00\x04host\x00\x00\x00\x08if-match\x00\x00\x00\x11if-modified-since\x00"
    b"\x00\x00\x0dif-none-match\x00\x00\x00\x08if-range\x00\x00\x00\x13if-unmodified-since\x00\x00"
    b"\x00\x0dlast-modified\x00\x00\x00\x08location\x00\x00\x00\x0cmax-forwards\x00\x00\x00\x06pra"
    b"gma\x00\x00\x00\x12proxy-authenticate\x00\x00\x00\x13proxy-authorization\x00\x00\x00\x05rang"
    b"e\x00\x00\x00\x07referer\x00\x00\x00\x0bretry-after\x00\x00\x00\x06server\x00\x00\x00\x02te"
    b"\x00\x00\x00\x07trailer\x00\x00\x00\x11transfer-encoding\x00\x00\x00\x07upgrade\x00\x00\x00"
    b"\x0auser-agent\x00\x00\x00\x04vary\x00\x00\x00\x03via\x00\x00\x00\x07warning\x00\x00\x00\x10"
    b"www-authenticate\x00\x00\x00\x06method\x00\x00\x00\x03get\x00\x00\x00\x06status\x00\x00\x00"
    b"\x06200 OK\x00\x00\x00\x07version\x00\x00\x00\x08HTTP/1.1\x00\x00\x00\x03url\x00\x00\x00\x06"
    b"public\x00\x00\x00\x0aset-cookie\x00\x00\x00\x0akeep-alive\x00\x00\x00\x06origin100101201202"
    b"205206300302303304305306307402405406407408409410411412413414415416417502504505203 Non-Author"
    b"itative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 For"
    b"bidden404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Fe"
    b"b Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTch"
    b"unked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/pla"
    b"in,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf"
    b"-,*,enq=0."
)


def _header_block(headers: dict[str, str]) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def _parse_header_block(raw: bytes) -> dict[str, str]:
    (count,) = struct.unpack_from(">I", raw, 0)
    pos, headers = 4, {}
    for _ in range(count):
        (n,) = struct.unpack_from(">I", raw, pos)
        name = raw[pos + 4 : pos + 4 + n].decode()
        pos += 4 + n
        (v,) = struct.unpack_from(">I", raw, pos)
        headers[name] = raw[pos + 4 : pos + 4 + v].decode()
        pos += 4 + v
    return headers


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8003, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(payload)) + payload


@dataclass
class _Request:
    """The error and data streams of one forwarded connection (one `requestid`)."""

    port: int
    error_id: int | None = None
    data_id: int | None = None
    writer: asyncio.StreamWriter | None = None
    pending: list[bytes] = field(default_factory=list)  # client data before the upstream connected
    client_fin: bool = False
    task: asyncio.Task[None] | None = None


class SpdySession:
    """One tunnelled SPDY session: parses client frames, answers streams, pipes each request's data."""

    def __init__(self, ws: WebSocket, pod: Obj, runtime: PodRuntime, faults: FaultRegistry) -> None:
        self.ws = ws
        self.pod = pod
        self.runtime = runtime
        self.faults = faults
        self.buf = bytearray()
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.deflate = zlib.compressobj(
            zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY
        )
        self.send_lock = asyncio.Lock()
        self.requests: dict[str, _Request] = {}
        self.by_stream: dict[int, tuple[str, str]] = {}  # stream id → (request id, "error"|"data")
        self.closed = asyncio.Event()
        self.session: _Session | None = None

    async def send(self, frame: bytes) -> None:
        async with self.send_lock:
            await self.ws.send_bytes(frame)

    async def reply(self, stream_id: int) -> None:
        async with self.send_lock:  # the compression context is shared: compress and send in order
            block = self.deflate.compress(_header_block({})) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
            await self.ws.send_bytes(control_frame(SYN_REPLY, 0, struct.pack(">I", stream_id) + block))

    async def run(self) -> None:
        await self.ws.accept(subprotocol=PROTOCOL)
        self.session = _Session(
            "portforward", asyncio.get_running_loop(), self.cut, self.pod["metadata"].get("namespace", "")
        )
        self.faults.open(self.session)
        try:
            while not self.closed.is_set():
                msg = await self.ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                self.buf += msg.get("bytes") or b""
                while (frame := self._next_frame()) is not None:
                    await self._handle(*frame)
        except (ConnectionError, RuntimeError, struct.error, zlib.error):
            pass
        finally:
            self.closed.set()
            self.faults.close(self.session)
            for req in self.requests.values():
                if req.writer is not None:
                    req.writer.transport.abort()
                if req.task is not None:
                    req.task.cancel()
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def cut(self, how: str) -> None:
        self.closed.set()
        for req in self.requests.values():
            if req.writer is not None:
                req.writer.transport.abort()
        with contextlib.suppress(Exception):
            await self.ws.close(code=1011, reason="port-forward dropped")

    def _next_frame(self) -> tuple[bool, int, int, bytes, int] | None:
        if len(self.buf) < 8:
            return None
        first, second = struct.unpack_from(">II", self.buf, 0)
        length = second & 0xFFFFFF
        if len(self.buf) < 8 + length:
            return None
        payload = bytes(self.buf[8 : 8 + length])
        del self.buf[: 8 + length]
        control = bool(first & 0x80000000)
        kind = first & 0xFFFF if control else 0
        stream_id = 0 if control else first & 0x7FFFFFFF
        return control, kind, second >> 24, payload, stream_id

    async def _handle(self, control: bool, kind: int, flags: int, payload: bytes, stream_id: int) -> None:
        if not control:
            await self._data(stream_id, flags, payload)
        elif kind == SYN_STREAM:
            sid = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
            headers = _parse_header_block(self.inflate.decompress(payload[10:]))
            await self.reply(sid)
            await self._stream(sid, flags, headers)
        elif kind == PING:
            await self.send(control_frame(PING, 0, payload))
        elif kind == RST_STREAM:
            sid = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
            owner = self.by_stream.get(sid)
            if owner and (req := self.requests.get(owner[0])) and req.writer is not None:
                req.writer.transport.abort()
        elif kind == GOAWAY:
            self.closed.set()
        elif kind in (HEADERS, SETTINGS, WINDOW_UPDATE):
            if kind == HEADERS:
                self.inflate.decompress(payload[4:])  # keep the shared context in step
        # other control frames: ignored, as spdystream does

    async def _stream(self, sid: int, flags: int, headers: dict[str, str]) -> None:
        rid, kind = headers.get("requestid", ""), headers.get("streamtype", "")
        try:
            port = int(headers.get("port", ""))
        except ValueError:
            await self.send(control_frame(RST_STREAM, 0, struct.pack(">II", sid, 1)))
            return
        req = self.requests.setdefault(rid, _Request(port=port))
        self.by_stream[sid] = (rid, kind)
        if kind == "error":
            req.error_id = sid
        elif kind == "data":
            req.data_id = sid
            if flags & FLAG_FIN:
                req.client_fin = True
        if req.error_id is not None and req.data_id is not None and req.task is None:
            req.task = asyncio.create_task(self._forward(req))

    async def _data(self, sid: int, flags: int, payload: bytes) -> None:
        owner = self.by_stream.get(sid)
        if owner is None or owner[1] != "data":
            return
        req = self.requests[owner[0]]
        if req.writer is None:
            req.pending.append(payload)
            req.client_fin = req.client_fin or bool(flags & FLAG_FIN)
            return
        if payload:
            req.writer.write(payload)
            with contextlib.suppress(ConnectionError):
                await req.writer.drain()
        if flags & FLAG_FIN and req.writer.can_write_eof():
            with contextlib.suppress(OSError):
                req.writer.write_eof()

    async def _forward(self, req: _Request) -> None:
        assert req.error_id is not None and req.data_id is not None
        name = self.pod["metadata"]["name"]
        uid = self.pod["metadata"].get("uid", "")
        target = self.runtime.upstream(self.pod, req.port)
        try:
            if target is None:
                raise ConnectionRefusedError
            reader, writer = await asyncio.open_connection(*target)
        except OSError:
            msg = (
                f"error forwarding port {req.port} to pod {name}, uid {uid}: failed to connect to "
                f'localhost:{req.port} inside namespace "{uid}", IPv4: dial tcp4 127.0.0.1:{req.port}: '
                f"connect: connection refused IPv6 dial tcp6 [::1]:{req.port}: connect: connection refused"
            )
            await self.send(data_frame(req.error_id, 0, msg.encode()))
            await self.send(data_frame(req.error_id, FLAG_FIN, b""))
            await self.send(data_frame(req.data_id, FLAG_FIN, b""))
            return
        req.writer = writer
        for chunk in req.pending:
            writer.write(chunk)
        req.pending.clear()
        if req.client_fin and writer.can_write_eof():
            writer.write_eof()
        try:
            while not self.closed.is_set():
                chunk = await reader.read(CHUNK)
                if not chunk:
                    break
                await self.send(data_frame(req.data_id, 0, chunk))
                if self.session is not None:
                    self.faults.sent(self.session, len(chunk))
            if not self.closed.is_set():
                await self.send(data_frame(req.data_id, FLAG_FIN, b""))
                await self.send(data_frame(req.error_id, FLAG_FIN, b""))
        except (OSError, RuntimeError):
            pass
        finally:
            writer.transport.abort()


async def serve_spdy_portforward(ws: WebSocket, pod: Obj, runtime: PodRuntime, faults: FaultRegistry) -> None:
    """Serve one kubectl port-forward session (SPDY/3.1 over WebSocket) until it ends."""
    await SpdySession(ws, pod, runtime, faults).run()
