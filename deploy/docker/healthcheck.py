#!/usr/bin/env python
"""The container's HEALTHCHECK: exit 0 when this process serves, 1 otherwise (standard library + redis only).

Its variables are not LUMEN_* ones: those are Lumen's settings, and Lumen warns about any it does not know.

HEALTHCHECK_MODE=http (default) asks HEALTHCHECK_URL (the API's /readyz, the engine's /health).
HEALTHCHECK_MODE=worker checks the heartbeat the arq workers of this host write to Redis every few
seconds (lumen.core.jobs.worker.health_key; a `--queue training` worker's carries a `:training` suffix), so a
hung worker is reported even though its process lives. The queues of one `lumen worker` share one event
loop, so either heartbeat speaks for the process.
"""

import os
import socket
import sys
import urllib.request


def http() -> bool:
    url = os.environ.get("HEALTHCHECK_URL", "http://127.0.0.1:8000/readyz")
    with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - a fixed local URL
        return bool(200 <= response.status < 300)


def worker() -> bool:
    import redis

    client = redis.Redis.from_url(os.environ["LUMEN_REDIS_URL"], socket_timeout=4)
    key = f"lumen:worker-health:{socket.gethostname()}"
    return bool(client.exists(key, f"{key}:training"))


if __name__ == "__main__":
    try:
        ok = worker() if os.environ.get("HEALTHCHECK_MODE") == "worker" else http()
    except Exception as exc:
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        ok = False
    sys.exit(0 if ok else 1)
