"""`lumen plugins list`: the installed plugins as the API would load them, without starting any server."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from importlib.metadata import entry_points

import pytest

from lumen.core.plugins.host import ENTRY_POINT_GROUP

UNITS_INSTALLED = any(e.name == "units" for e in entry_points(group=ENTRY_POINT_GROUP))
needs_units = pytest.mark.skipif(
    not UNITS_INSTALLED, reason="the example plugin is not installed (pip install -e plugins/examples/units)"
)


def _plugins_list(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LUMEN_")}
    # A data dir that does not exist: nothing may be started or created for a listing.
    missing = os.path.join(tempfile.gettempdir(), "lumen-no-such-dir", "data")
    clean.update({"LUMEN_DATA_DIR": missing, "LUMEN_LOG_FORMAT": "json", **env})
    result = subprocess.run(
        [sys.executable, "-m", "lumen.core.cli", "plugins", "list"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert not os.path.exists(missing), "listing plugins created the data dir"
    return result


@needs_units
def test_lists_the_units_plugin_with_its_routes_and_actions() -> None:
    result = _plugins_list()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("units  "))
    block = "\n".join(lines[header : header + 5])
    assert "default: off" in block
    assert "routes:  /v1/units/analytes, /v1/units/convert" in block
    assert "actions: units.convert, units.read" in block
    assert "register_routes" in block
    assert "register_settings" in block


@needs_units
def test_respects_the_allow_list() -> None:
    result = _plugins_list(LUMEN_PLUGINS="not_installed")
    assert result.returncode == 0, result.stderr
    assert "units" not in result.stdout
    assert "no allowed plugin is installed" in result.stdout
    assert "'not_installed', which is not installed" in result.stderr
    allowed = _plugins_list(LUMEN_PLUGINS="units")
    headers = [line for line in allowed.stdout.splitlines() if not line.startswith(" ")]
    assert len(headers) == 1, allowed.stdout
    assert headers[0].startswith("units  ")
