"""The sandbox's own redis-server, standing in for Deployment `litellm-redis` (docs/deployment-facts.md §1.4, §1.2).

It listens on a free port of 127.0.0.1 only, requires a password (``requirepass``; an empty password:
none, as upstream Kustomize's Redis), and keeps nothing on disk (no RDB snapshots, no AOF). The configuration, which holds the password, is written to a 0600
file in ``<workdir>/redis/`` so the password never shows on a command line or in a log.

:meth:`RedisServer.stop` followed by :meth:`RedisServer.start` restarts it on the same port, which lets
a test take Redis away and bring it back (the fake `litellm-redis` pod is Ready only while
:meth:`ping` answers).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from litemaas_state.sandbox.postgres import free_port


def redis_server_program() -> str:
    """``$LITEMAAS_SANDBOX_REDIS_SERVER`` (read when called), else ``redis-server`` on PATH."""
    return os.environ.get("LITEMAAS_SANDBOX_REDIS_SERVER", "redis-server")


class RedisServerError(RuntimeError):
    """redis-server did not come up; the message carries the tail of its log."""


@dataclass
class RedisServer:
    """One redis-server process. ``port`` is chosen at the first :meth:`start` and kept afterwards."""

    workdir: Path
    password: str = field(repr=False)
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = field(init=False, default=None, repr=False)
    _client: redis.Redis | None = field(init=False, default=None, repr=False)

    @property
    def dir(self) -> Path:
        return Path(self.workdir) / "redis"

    @property
    def url(self) -> str:
        """``redis://:<pw>@127.0.0.1:<port>/0`` (``redis://127.0.0.1:<port>/0`` without a password)."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _write_conf(self) -> Path:
        conf = self.dir / "redis.conf"
        text = "\n".join(
            [
                "bind 127.0.0.1",
                f"port {self.port}",
                "protected-mode yes",
                *([f'requirepass "{self.password}"'] if self.password else []),
                'save ""',
                "appendonly no",
                f"dir {self.dir}",
                f"logfile {self.dir / 'redis.log'}",
                "daemonize no",
                "databases 16",
                "",
            ]
        )
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return conf

    def start(self, timeout_s: float = 10.0) -> None:
        """Start redis-server and wait until it answers PING.

        Raises:
            RedisServerError: it exited or did not answer within ``timeout_s`` (three port attempts
                on the first start; a restart keeps its port).
        """
        if self._proc is not None and self._proc.poll() is None:
            return
        program = redis_server_program()
        if shutil.which(program) is None:
            raise RedisServerError(f"{program} not found on PATH")
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        keep_port = self.port != 0
        for attempt in range(3):
            if not keep_port and (attempt > 0 or self.port == 0):
                self.port = free_port()
            conf = self._write_conf()
            self._proc = subprocess.Popen(
                [program, str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # same process group as its parent: a killpg of the sandbox daemon takes it along
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    break
                if self.ping():
                    return
                time.sleep(0.05)
            self._kill()
        raise RedisServerError(f"redis-server did not start: {self._log_tail()}")

    def stop(self) -> None:
        """Terminate redis-server (SIGTERM, then SIGKILL after 5 s). Idempotent."""
        self._kill()

    def _kill(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def ping(self, timeout_s: float = 0.5) -> bool:
        """True when redis answers an authenticated PING within ``timeout_s``; never raises."""
        if self._proc is not None and self._proc.poll() is not None:
            return False  # exited (and now reaped, so no zombie is left behind)
        if self.port == 0:
            return False
        client = self._client
        wanted = {"port": self.port, "socket_timeout": timeout_s}
        if client is None or any(client.connection_pool.connection_kwargs.get(k) != v for k, v in wanted.items()):
            if client is not None:
                client.close()
            # one client kept for the probes (several a second while pods start): a new connection and its
            # AUTH and CLIENT SETINFO per PING cost the daemon more than the PING
            client = self._client = redis.Redis(
                host="127.0.0.1",
                port=self.port,
                password=self.password or None,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), 0),  # redis-py >= 6 retries with backoff by default: one try only
            )
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            client.connection_pool.disconnect()  # the next PING connects afresh (a restarted server)
            return False

    def _log_tail(self) -> str:
        try:
            return (self.dir / "redis.log").read_text(errors="replace")[-1500:]
        except OSError:
            return "(no log)"
