"""Conversions are right, name their source, and refuse bad input naming the parameter."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumen.plugins.sdk.testing import LumenTenant, assert_problem, create_key, enable_plugin


async def convert(client: httpx.AsyncClient, tenant: LumenTenant, **params: Any) -> httpx.Response:
    if "from_" in params:
        params["from"] = params.pop("from_")
    return await client.get("/v1/units/convert", params=params, headers=tenant.headers)


@pytest.fixture
async def units_on(lumen_client: httpx.AsyncClient, lumen_tenant: LumenTenant) -> LumenTenant:
    await enable_plugin(lumen_client, lumen_tenant, "units")
    return lumen_tenant


# Worked examples from the cited relations, at the default 2 decimals.
@pytest.mark.parametrize(
    ("analyte", "value", "from_", "to", "expected"),
    [
        ("glucose", 100, "mg/dL", "mmol/L", 5.55),
        ("glucose", 7.0, "mmol/L", "mg/dL", 126.11),
        ("cholesterol", 200, "mg/dL", "mmol/L", 5.17),
        ("triglycerides", 150, "mg/dL", "mmol/L", 1.69),
        ("creatinine", 1.0, "mg/dL", "µmol/L", 88.4),
        ("creatinine", 88.4, "µmol/L", "mg/dL", 1.0),
        ("bun", 14, "mg/dL", "mmol/L", 5.0),
        ("calcium", 2.5, "mmol/L", "mg/dL", 10.02),
        ("magnesium", 0.8, "mmol/L", "mg/dL", 1.94),
        ("uric_acid", 6, "mg/dL", "µmol/L", 356.88),
        ("bilirubin", 1.2, "mg/dL", "µmol/L", 20.52),
        ("hemoglobin", 13.5, "g/dL", "g/L", 135.0),
        ("hba1c", 7, "%", "mmol/mol", 53.01),
        ("hba1c", 48, "mmol/mol", "%", 6.54),
    ],
)
async def test_known_conversions(
    lumen_client: httpx.AsyncClient,
    units_on: LumenTenant,
    analyte: str,
    value: float,
    from_: str,
    to: str,
    expected: float,
) -> None:
    r = await convert(lumen_client, units_on, analyte=analyte, value=value, from_=from_, to=to)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["result"] == expected
    assert (body["analyte"], body["from"], body["to"]) == (analyte, from_, to)
    assert math.isclose(value * body["factor"] + body["offset"], expected, abs_tol=0.005)


async def test_an_answer_names_its_source(lumen_client: httpx.AsyncClient, units_on: LumenTenant) -> None:
    r = await convert(lumen_client, units_on, analyte="hba1c", value=7, from_="%", to="mmol/mol")
    body = r.json()
    assert "10.93" in body["source"]
    assert body["reviewed"]
    assert body["knowledge_version"]
    assert body["notice"] is None


async def test_unit_spellings_people_type(lumen_client: httpx.AsyncClient, units_on: LumenTenant) -> None:
    for spelling in ("umol/l", "μmol/L", "µmol/L", " UMOL/L "):
        r = await convert(lumen_client, units_on, analyte="Creatinine", value=1, from_="mg/dl", to=spelling)
        assert r.status_code == 200, r.text
        assert (r.json()["analyte"], r.json()["to"], r.json()["result"]) == ("creatinine", "µmol/L", 88.4)


async def test_no_target_means_the_tenants_default_system(
    lumen_client: httpx.AsyncClient, units_on: LumenTenant
) -> None:
    r = await convert(lumen_client, units_on, analyte="glucose", value=5.55, from_="mmol/L")
    assert r.json()["to"] == "mmol/L"  # SI by default: already there
    assert r.json()["result"] == 5.55
    await enable_plugin(lumen_client, units_on, "units", {"default_system": "conventional"})
    r = await convert(lumen_client, units_on, analyte="glucose", value=5.55, from_="mmol/L")
    assert (r.json()["to"], r.json()["result"]) == ("mg/dL", 99.99)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"analyte": "unobtainium", "value": 1, "from_": "mg/dL"}, "analyte"),
        ({"analyte": "glucose", "value": 1, "from_": "g/L"}, "from"),
        ({"analyte": "glucose", "value": 1, "from_": "mg/dL", "to": "µmol/L"}, "to"),
        ({"analyte": "glucose", "value": -1, "from_": "mg/dL"}, "value"),
        ({"analyte": "glucose", "value": "nan", "from_": "mg/dL"}, "value"),
        ({"analyte": "glucose", "value": "inf", "from_": "mg/dL"}, "value"),
        ({"analyte": "glucose", "value": "1e400", "from_": "mg/dL"}, "value"),
        ({"analyte": "glucose", "value": "ten", "from_": "mg/dL"}, "value"),
        ({"analyte": "hba1c", "value": 1, "from_": "%"}, "value"),  # below the NGSP/IFCC equation's range
    ],
)
async def test_bad_input_names_the_parameter(
    lumen_client: httpx.AsyncClient, units_on: LumenTenant, params: dict[str, Any], parameter: str
) -> None:
    body = assert_problem(await convert(lumen_client, units_on, **params), 400, "validation-error")
    assert body["errors"][0]["key"] == parameter, body
    assert body["detail"].startswith(parameter), body


@pytest.mark.parametrize(
    ("params", "parameter"),
    [({"analyte": "glucose", "value": 1}, "from"), ({"value": 1, "from_": "mg/dL"}, "analyte")],
)
async def test_a_missing_parameter_is_named(
    lumen_client: httpx.AsyncClient, units_on: LumenTenant, params: dict[str, Any], parameter: str
) -> None:
    body = assert_problem(await convert(lumen_client, units_on, **params), 400)
    assert f"query parameter '{parameter}'" in body["detail"], body


async def test_the_analytes_list(lumen_client: httpx.AsyncClient, units_on: LumenTenant) -> None:
    r = await lumen_client.get("/v1/units/analytes", headers=units_on.headers)
    assert r.status_code == 200, r.text
    items = {item["analyte"]: item for item in r.json()["items"]}
    assert {"glucose", "cholesterol", "triglycerides", "creatinine", "bun", "calcium", "hba1c"} <= set(items)
    assert items["glucose"]["units"] == ["mg/dL", "mmol/L"]
    assert items["glucose"]["default_unit"] == "mmol/L"
    assert all(item["source"] and item["reviewed"] for item in items.values())


async def test_the_knowledge_is_listed_with_the_plugin(
    lumen_client: httpx.AsyncClient, lumen_tenant: LumenTenant
) -> None:
    r = await lumen_client.get("/v1/plugins/units", headers=lumen_tenant.headers)
    (knowledge,) = r.json()["knowledge"]
    assert knowledge["name"] == "units.conversions"
    assert knowledge["entries"] >= 11
    assert knowledge["reviewed"]


async def test_a_test_mode_key_is_told_not_for_clinical_use(
    lumen_client: httpx.AsyncClient, units_on: LumenTenant
) -> None:
    sandbox = await create_key(lumen_client, units_on, scopes=["units:read"], mode="test")
    r = await convert(lumen_client, sandbox, analyte="glucose", value=100, from_="mg/dL")
    assert r.status_code == 200, r.text
    assert "not" in r.json()["notice"]


async def test_a_tenant_policy_can_oblige_the_notice_for_every_key(
    lumen_client: httpx.AsyncClient, units_on: LumenTenant
) -> None:
    policy = {"obligations": {"units.convert": ["units_not_for_clinical_use"]}}
    r = await lumen_client.put("/v1/policy", json=policy, headers=units_on.headers)
    assert r.status_code == 200, r.text
    r = await convert(lumen_client, units_on, analyte="glucose", value=100, from_="mg/dL")
    assert r.json()["notice"]


# Every analyte, both directions: converting there and back returns the value, within the rounding of the
# two answers (6 decimals here).
ANALYTES = {
    "glucose": ("mg/dL", "mmol/L"),
    "cholesterol": ("mg/dL", "mmol/L"),
    "triglycerides": ("mg/dL", "mmol/L"),
    "creatinine": ("mg/dL", "µmol/L"),
    "bun": ("mg/dL", "mmol/L"),
    "calcium": ("mg/dL", "mmol/L"),
    "magnesium": ("mg/dL", "mmol/L"),
    "uric_acid": ("mg/dL", "µmol/L"),
    "bilirubin": ("mg/dL", "µmol/L"),
    "hemoglobin": ("g/dL", "g/L"),
    "hba1c": ("%", "mmol/mol"),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    analyte=st.sampled_from(sorted(ANALYTES)),
    value=st.floats(min_value=2.5, max_value=5000, allow_nan=False),
    reverse=st.booleans(),
)
async def test_round_trip(
    lumen_client: httpx.AsyncClient, units_on: LumenTenant, analyte: str, value: float, reverse: bool
) -> None:
    await enable_plugin(lumen_client, units_on, "units", {"decimals": 6})
    first, second = ANALYTES[analyte][::-1] if reverse else ANALYTES[analyte]
    there = await convert(lumen_client, units_on, analyte=analyte, value=value, from_=first, to=second)
    assert there.status_code == 200, there.text
    back = await convert(
        lumen_client, units_on, analyte=analyte, value=there.json()["result"], from_=second, to=first
    )
    assert back.status_code == 200, back.text
    # Rounding `there` to 1e-6 moves `back` by at most 1e-6 x the reverse factor, plus its own rounding.
    tolerance = 5e-7 * abs(back.json()["factor"]) + 5e-7 + 1e-12 * value
    assert abs(back.json()["result"] - value) <= tolerance + 1e-9, (there.json(), back.json())
