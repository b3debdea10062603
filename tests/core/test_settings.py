from __future__ import annotations

import pytest

from lumen.core.settings import SettingsError, load_settings, unknown_variables


def test_defaults_mean_embedded_services() -> None:
    settings = load_settings({})
    assert settings.uses_embedded_database and settings.uses_embedded_redis
    assert settings.data_dir  # the user data dir
    assert settings.server.max_body_bytes == 1_048_576


def test_short_and_nested_names() -> None:
    settings = load_settings(
        {
            "LUMEN_DATABASE_URL": "postgresql://app@db/lumen",
            "LUMEN_REDIS_URL": "redis://cache:6379/0",
            "LUMEN_SERVER__PORT": "9000",
            "LUMEN_SERVER__WORKERS": "4",
            "LUMEN_INFERENCE_URLS": "http://a:8000, http://b:8000",
            "LUMEN_LOG_FORMAT": "json",
        }
    )
    assert settings.database.url == "postgresql://app@db/lumen"
    assert not settings.uses_embedded_database and not settings.uses_embedded_redis
    assert settings.server.port == 9000 and settings.server.workers == 4
    assert settings.inference_urls == ["http://a:8000", "http://b:8000"]
    assert settings.log.format == "json"


def test_limits_settings() -> None:
    assert load_settings({}).limits.thresholds == [0.8]
    settings = load_settings(
        {"LUMEN_LIMITS__THRESHOLDS": "0.5, 0.9,1", "LUMEN_LIMITS__REDIS_TIMEOUT_SECONDS": "0.1"}
    )
    assert settings.limits.thresholds == [0.5, 0.9, 1.0]
    assert settings.limits.redis_timeout_seconds == 0.1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LUMEN_SERVER__PORT", "eighty"),
        ("LUMEN_LOG_LEVEL", "loud"),
        ("LUMEN_SERVER__NOPE", "1"),
        ("LUMEN_LIMITS__THRESHOLDS", "0.8,1.5"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({name: value})
    assert str(info.value).startswith(name + ":")


def test_foreign_lumen_variables_are_reported_not_fatal() -> None:
    env = {"LUMEN_BIN": "/usr/bin/lumen", "LUMEN_PORT": "8001"}
    assert load_settings(env).server.port == 8001
    assert unknown_variables(env) == ["LUMEN_BIN"]
