"""Request and response shapes for limits (operator) and usage (tenant)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import msgspec

__all__ = [
    "LimitsOut",
    "LimitsUpdate",
    "ModelUsage",
    "RouteUsage",
    "UsageDay",
    "UsageReport",
]


class LimitsUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`plan`: a plan name (unchanged when omitted). `overrides`: replaces the previous overrides entirely;
    known fields are requests_per_minute, key_requests_per_minute, requests_per_day, tokens_per_minute,
    key_tokens_per_minute, tokens_per_day (positive integers, or null to follow the plan); `{}` clears
    them."""

    plan: str | msgspec.UnsetType = msgspec.UNSET
    # Checked field by field in the service, so that a bad value is a 422 that names it.
    overrides: dict[str, Any] = msgspec.field(default_factory=dict)


class LimitValues(msgspec.Struct):
    requests_per_minute: int
    key_requests_per_minute: int
    requests_per_day: int
    tokens_per_minute: int
    key_tokens_per_minute: int
    tokens_per_day: int


class LimitsOut(msgspec.Struct):
    tenant_id: uuid.UUID
    plan: str
    # Only the values that differ from the plan's.
    overrides: dict[str, int]
    # What applies: the plan with the overrides.
    effective: LimitValues
    plans: list[str]


class RouteUsage(msgspec.Struct):
    method: str
    route: str  # the route template, e.g. /v1/keys/{key_id}
    status_class: str  # 2xx, 4xx...
    requests: int


class ModelUsage(msgspec.Struct):
    model: str
    adapter: str | None
    tokens_in: int
    tokens_out: int


class UsageDay(msgspec.Struct):
    date: date
    requests: int
    tokens_in: int
    tokens_out: int
    routes: list[RouteUsage]
    models: list[ModelUsage]


class UsageReport(msgspec.Struct):
    tenant_id: uuid.UUID
    from_: date = msgspec.field(name="from")
    to: date = msgspec.field(name="to")
    days: list[UsageDay] = msgspec.field(default_factory=list)
