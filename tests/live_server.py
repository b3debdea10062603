"""A real `lumen serve` process on its own data dir, for tests that need the whole system (restarts,
crashes, the CLI beside a running server). Loopback only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

LUMEN = [sys.executable, "-m", "lumen.core.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, fresh_dir: str, env: dict[str, str], ready_timeout: float = 180) -> None:
        # Most end-to-end tests are not about inference: they run without the local engine (its own tests,
        # tests/inference/test_serve.py, turn it on).
        env = {"LUMEN_INFERENCE__LOCAL_ENGINE": "false", **env}
        self.fresh_dir, self.env = fresh_dir, env
        self.port = _free_port()
        self.log = Path(fresh_dir) / f"serve-{self.port}.log"
        self.proc = subprocess.Popen(
            [*LUMEN, "serve", "--port", str(self.port), "--data-dir", fresh_dir],
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        log = self.log.read_text()[-2000:]
        self.stop()  # not left running (with its PostgreSQL and Redis) by a start that timed out
        raise AssertionError(f"lumen serve not ready in {ready_timeout} s: " + log)

    def request(
        self, method: str, path: str, body: object = None, key: str | None = None
    ) -> tuple[int, object]:
        status, _, payload = self.call(method, path, body, key)
        return status, payload

    def call(
        self, method: str, path: str, body: object = None, key: str | None = None, timeout: float = 30
    ) -> tuple[int, dict[str, str], object]:
        """(status, lower-cased headers, decoded JSON body)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"} if data else {}
        if key:
            headers["authorization"] = f"Bearer {key}"
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback only
                return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, json.loads(err.read() or b"null")

    def kill(self) -> None:
        """SIGKILL the whole process group: the API, no chance to clean up (a crash)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                raise
        return self.proc.returncode
