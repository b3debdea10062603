"""Plans and overrides, without Redis or the database: what applies to a tenant."""

from __future__ import annotations

import pytest

from lumen.core.http.errors import UnprocessableEntity
from lumen.core.limits.plans import DEFAULT_PLAN, PLANS, LimitOverrides, effective_limits
from lumen.core.limits.service import check_overrides


def test_every_plan_is_internally_consistent() -> None:
    assert DEFAULT_PLAN in PLANS
    for name, limits in PLANS.items():
        assert limits.key_requests_per_minute <= limits.requests_per_minute, name
        assert limits.key_tokens_per_minute <= limits.tokens_per_minute, name
        assert limits.requests_per_minute <= limits.requests_per_day, name
        assert limits.tokens_per_minute <= limits.tokens_per_day, name
    assert PLANS["free"].requests_per_minute < PLANS["standard"].requests_per_minute
    assert PLANS["standard"].requests_per_minute < PLANS["enterprise"].requests_per_minute


def test_overrides_replace_only_what_they_name() -> None:
    limits = effective_limits("free", LimitOverrides(requests_per_minute=7, tokens_per_day=None))
    assert limits.requests_per_minute == 7
    assert limits.tokens_per_day == PLANS["free"].tokens_per_day
    assert effective_limits("free", LimitOverrides()) == PLANS["free"]


def test_a_plan_no_longer_in_the_table_falls_back_to_the_default() -> None:
    assert effective_limits("legacy-gold", LimitOverrides()) == PLANS[DEFAULT_PLAN]


def test_stored_overrides_tolerate_fields_a_newer_version_dropped() -> None:
    stored = {"requests_per_minute": 9, "requests_per_fortnight": 3}
    assert LimitOverrides.from_stored(stored) == LimitOverrides(requests_per_minute=9)
    assert LimitOverrides.from_stored(None) == LimitOverrides()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"requests_per_minute": 0}, "overrides.requests_per_minute"),
        ({"tokens_per_day": 1.5}, "overrides.tokens_per_day"),
        ({"burst": 10}, "overrides.burst"),
    ],
)
def test_bad_overrides_name_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(UnprocessableEntity) as info:
        check_overrides(raw)
    assert str(info.value.detail).startswith(f"{field}: ")
