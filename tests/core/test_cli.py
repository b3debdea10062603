"""`lumen` as a user runs it: a real `lumen serve` process on its own data dir, the CLI beside it, and a
restart on the same data dir that finds everything where it was left."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lumen.core.settings import Settings
from tests.live_server import LUMEN, Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def fresh_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="lumen-e2e-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMEN_")}
    env.update({"LUMEN_LOG_FORMAT": "json", **extra})
    return env


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LUMEN, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_generated_platform_key_is_printed_once_and_saved_0600(fresh_dir: str) -> None:
    env = _env()
    server = Server(fresh_dir, env)
    try:
        key_file = Path(fresh_dir) / "platform.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_text().strip()
        assert server.request("GET", "/v1/tenants", key=key)[0] == 200
    finally:
        assert server.stop() == 0
    assert server.log.read_text().count(key) == 1  # printed once, never logged
    again = Server(fresh_dir, env)
    try:
        assert key not in again.log.read_text()  # not printed on later starts
    finally:
        again.stop()


def test_data_survives_a_restart_and_cli_works_beside_serve(fresh_dir: str) -> None:
    platform_key = "lm_platform_" + secrets.token_hex(16)
    env = _env(LUMEN_PLATFORM_KEY=platform_key)
    server = Server(fresh_dir, env)
    try:
        status, tenant = server.request(
            "POST", "/v1/tenants", {"slug": "persist", "name": "Persist"}, key=platform_key
        )
        assert status == 201
        assert isinstance(tenant, dict)
        status, issued = server.request(
            "POST", f"/v1/tenants/{tenant['id']}/keys", {"name": "k", "scopes": ["admin"]}, key=platform_key
        )
        assert status == 201 and isinstance(issued, dict)
        # The CLI attaches to the running embedded servers on the same data dir.
        made = _cli("tenants", "create", "from-cli", "From CLI", "--data-dir", fresh_dir, env=env)
        assert made.returncode == 0, made.stderr
        listed = _cli("tenants", "list", "--data-dir", fresh_dir, env=env)
        assert "persist" in listed.stdout and "from-cli" in listed.stdout
        cli_key = _cli(
            "keys", "create", "--tenant", "from-cli", "--name", "ops", "--data-dir", fresh_dir, env=env
        )
        assert cli_key.returncode == 0, cli_key.stderr
        secret = next(line.split()[1] for line in cli_key.stdout.splitlines() if line.startswith("key:"))
        assert server.request("GET", "/v1/keys", key=secret)[0] == 200
        key_id = next(line.split()[1] for line in cli_key.stdout.splitlines() if line.startswith("id:"))
        revoked = _cli("keys", "revoke", key_id, "--tenant", "from-cli", "--data-dir", fresh_dir, env=env)
        assert revoked.returncode == 0, revoked.stderr
        assert server.request("GET", "/v1/keys", key=secret)[0] == 401
        # The server is still healthy after the CLI processes exited.
        assert server.request("GET", "/readyz")[0] == 200
    finally:
        assert server.stop() == 0
    # Everything stopped cleanly: no postmaster or redis left running on this data dir.
    assert not (Path(fresh_dir) / "postgres" / "postmaster.pid").exists()
    restarted = Server(fresh_dir, env)
    try:
        status, body = restarted.request("GET", f"/v1/tenants/{tenant['id']}", key=platform_key)
        assert status == 200 and isinstance(body, dict) and body["slug"] == "persist"
        assert restarted.request("GET", "/v1/keys", key=issued["key"])[0] == 200
    finally:
        restarted.stop()


def test_cli_reports_domain_errors_plainly(fresh_dir: str) -> None:
    env = _env()
    first = _cli("tenants", "create", "dup", "Dup", "--data-dir", fresh_dir, env=env)
    assert first.returncode == 0, first.stderr
    again = _cli("tenants", "create", "dup", "Dup", "--data-dir", fresh_dir, env=env)
    assert again.returncode == 1
    assert "already exists" in again.stderr and "Traceback" not in again.stderr
    bad = _cli("tenants", "create", "Not A Slug", "x", "--data-dir", fresh_dir, env=env)
    assert bad.returncode == 2 and "slug" in bad.stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["db", "upgrade"],
        ["tenants", "create"],
        ["tenants", "list"],
        ["keys", "create"],
        ["keys", "revoke"],
    ],
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = _cli(*command, "--help", env=_env())
    assert result.returncode == 0
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 3


def test_bad_setting_names_the_variable() -> None:
    result = _cli("tenants", "list", env=_env(LUMEN_SERVER__PORT="eighty"))
    assert result.returncode == 2
    assert "LUMEN_SERVER__PORT" in result.stderr


def test_db_upgrade_against_configured_urls_is_idempotent(settings: Settings) -> None:
    """Production path: URLs given, nothing embedded started, migrations and grants re-applied cleanly."""
    assert settings.database.url is not None
    assert settings.database.owner_url is not None
    env = _env(
        LUMEN_DATABASE_URL=settings.database.url,
        LUMEN_DATABASE_OWNER_URL=settings.database.owner_url,
        LUMEN_REDIS_URL=settings.redis.url or "",
        LUMEN_DATA_DIR="/nonexistent/never-created",
    )
    result = _cli("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert "latest revision" in result.stdout
    assert not Path("/nonexistent/never-created").exists()
