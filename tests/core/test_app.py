"""The app a server's worker runs (`app_from_env`, granian's factory)."""

from __future__ import annotations

import subprocess
import sys

from lumen.core.settings import Settings
from tests.conftest import PLATFORM_KEY, attached_env

SCRIPT = """
import asyncio, gc
from lumen.core.app import app_from_env

async def main():
    app = app_from_env()
    async with app.lifespan():
        print("frozen", gc.get_freeze_count())

asyncio.run(main())
"""


def test_a_server_worker_freezes_what_start_up_built(settings: Settings) -> None:
    # Half a million long-lived objects out of the collector's sight: a full collection no longer stalls
    # every request in flight for hundreds of milliseconds. In a process of its own: freezing is for good.
    env = attached_env(
        settings,
        LUMEN_PLATFORM_KEY=PLATFORM_KEY,
        LUMEN_ENVIRONMENT="test",
        LUMEN_INFERENCE__LOCAL_ENGINE="false",
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    frozen = int(done.stdout.split("frozen ")[1].split()[0])
    assert frozen > 100_000
