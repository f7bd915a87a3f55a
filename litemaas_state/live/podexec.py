"""Run a command in a pod's container by exec and stream its stdout, as ``kubectl exec`` does.

The official client's WebSocket exec (``kubernetes.stream.stream`` on ``pods/{name}/exec``, subprotocols
``v5.channel.k8s.io`` / ``v4.channel.k8s.io``): channel 1 is stdout, 2 stderr, 3 the final ``Status``
(``Success``, or ``Failure`` with reason ``NonZeroExitCode`` and the exit code in
``details.causes[reason=ExitCode]``). stdout goes to a callback as it arrives, never held in memory (the
client is built with ``capture_all=False``, so it keeps no copy either); a stream that ends without a
Status was cut off.

Source: kubernetes-client/python ``kubernetes/stream/ws_client.py`` (WSClient, ``returncode``);
kubernetes ``staging/src/k8s.io/apimachinery/pkg/util/remotecommand/constants.go`` and
``pkg/kubelet/cri/streaming/remotecommand/websocket.go`` (channels, the v4 Status).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from litemaas_state.live import endpoints as ep
from litemaas_state.live.kube import KubeConnection, api_error

STDOUT, STDERR, ERROR, CLOSE = 1, 2, 3, 255
READ_TIMEOUT_S = 120.0
STDERR_KEPT = 8192


@dataclass(frozen=True)
class ExecResult:
    """How an exec ended. ``exit_code`` None = the stream ended without a Status (cut off)."""

    exit_code: int | None
    stderr: str
    message: str = ""


def _exit_code(status_text: str) -> tuple[int | None, str]:
    try:
        status = json.loads(status_text)
    except ValueError:
        return None, ""
    if not isinstance(status, dict):
        return None, ""
    if status.get("status") == "Success":
        return 0, ""
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", "")), str(status.get("message", ""))[:200]
            except ValueError:
                break
    return 1, str(status.get("message", ""))[:200]


def exec_stream(conn: KubeConnection, pod: str, container: str, command: list[str],
                on_stdout: Callable[[bytes], None], *, alternative: str,
                read_timeout_s: float = READ_TIMEOUT_S) -> ExecResult:
    """Run ``command`` in ``pod``/``container``; feed stdout to ``on_stdout``; return the exit status.

    A stream silent for ``read_timeout_s`` is closed and reported as cut off (exit_code None).

    Raises:
        Forbidden: the token may not ``create pods/exec`` (HTTP 403); ``alternative`` is named.
        ObserveError: the API server refused the exec otherwise (pod gone: 404) or cannot be reached.
    """
    from kubernetes.stream import stream, ws_client  # lazy: the WebSocket stack is only needed here
    from websocket import (
        ABNF,
        WebSocketConnectionClosedException,
        WebSocketException,
        WebSocketTimeoutException,
    )

    def uncaptured(configuration: Any, _method: str, url: str, **kwargs: Any) -> Any:
        # ws_client.websocket_call, but with capture_all=False: the client then keeps no copy of stdout
        try:
            return ws_client.WSClient(configuration, ws_client.get_websocket_url(url), kwargs.get("headers"),
                                      capture_all=False, binary=True)
        except Exception as exc:  # as websocket_call does: the caller sees an ApiException
            raise ApiException(status=0, reason=str(exc)) from exc

    open_exec = functools.partial(stream.func, uncaptured, None)  # stream() = partial(_, websocket_call, None)
    try:
        # a client of its own: kubernetes.stream swaps the client's call_api while it dials
        with ApiClient(conn.api.configuration) as api:
            ws = open_exec(ep.Connect(api, ep.EXEC_POD).open, pod, conn.namespace, command=command,
                           container=container, stdin=False, stdout=True, stderr=True, tty=False,
                           _preload_content=False, binary=True)
    except ApiException as exc:
        raise api_error(exc, f"exec in pod/{pod}", verb="create", resource="pods/exec",
                        alternative=alternative) from exc
    stderr = b""
    status_text = b""
    # Frames are read straight off the client's WebSocket: WSClient.update() appends each frame to its
    # channel buffer with ``bytes +=``, quadratic for a dump of many 64 KiB frames (≈ 10 MB/s at 50 MB).
    sock = ws.sock
    sock.settimeout(read_timeout_s)
    v5 = ws.subprotocol == ws_client.V5_CHANNEL_PROTOCOL
    try:
        while True:
            try:
                opcode, frame = sock.recv_data_frame(True)
            except WebSocketTimeoutException:
                return ExecResult(None, stderr.decode(errors="replace"),
                                  f"no output for {read_timeout_s:.0f} s; closed the exec stream")
            except WebSocketConnectionClosedException:
                break
            if opcode == ABNF.OPCODE_CLOSE:
                break
            if opcode not in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT) or not frame.data:
                continue
            data = frame.data if isinstance(frame.data, bytes) else str(frame.data).encode()
            channel, payload = data[0], data[1:]
            if channel == CLOSE and v5:
                continue  # [255, n]: the server closed channel n
            if channel == STDOUT:
                on_stdout(payload)
            elif channel == STDERR:
                stderr = (stderr + payload)[-STDERR_KEPT:]
            elif channel == ERROR:
                status_text += payload
    except (WebSocketException, OSError) as exc:
        return ExecResult(None, stderr.decode(errors="replace"), f"the exec stream broke ({type(exc).__name__})")
    finally:
        ws.close()
    code, message = _exit_code(status_text.decode(errors="replace")) if status_text else (None, "")
    if code is None and not message:
        message = "the exec stream ended without an exit status (cut off)"
    return ExecResult(code, stderr.decode(errors="replace"), message)
