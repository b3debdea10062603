"""The embedded redis-server: under the data dir, attachable by another process, data kept on restart."""

from __future__ import annotations

import tempfile
from pathlib import Path

import redis

from lumen.core.embedded.redis import EmbeddedRedis


def test_start_attach_and_persist() -> None:
    data = Path(tempfile.mkdtemp(prefix="lumen-redis-"))
    first = EmbeddedRedis(data)
    url = first.start()
    assert str(data) in url
    client = redis.Redis.from_url(url)
    client.set("lumen:t:test:k", "v")
    second = EmbeddedRedis(data)  # e.g. the CLI beside `lumen serve`
    assert second.start() == url
    second.stop()  # did not start it, so does not stop it
    assert client.get("lumen:t:test:k") == b"v"
    client.close()
    first.stop()
    assert not EmbeddedRedis(data)._alive()
    again = EmbeddedRedis(data)
    reopened = redis.Redis.from_url(again.start())
    try:
        assert reopened.get("lumen:t:test:k") == b"v"
    finally:
        reopened.close()
        again.stop()
