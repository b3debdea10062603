"""Hostile input against a tenant route (POST /v1/keys) and an operator route (POST /v1/tenants).

Every case must be answered with a 4xx application/problem+json -- never a 5xx -- and where the problem is
one field, the detail names it. Strings that merely look dangerous (SQL, unicode oddities) are data: they
are stored verbatim and read back unchanged.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from lumen.core.app import create_app
from lumen.core.settings import Settings
from tests.conftest import assert_problem, bearer, create_tenant, platform_headers

KEYS = "/v1/keys"
TENANTS = "/v1/tenants"
SQL = "'; DROP TABLE api_keys; --"
TEN_MB = 10 * 1024 * 1024


@dataclass
class Target:
    url: str
    headers: dict[str, str]
    make_valid: Callable[[], dict[str, Any]]

    def valid(self, **override: Any) -> dict[str, Any]:
        body = self.make_valid()
        body.update(override)
        return body

    def without(self, field: str) -> dict[str, Any]:
        body = self.make_valid()
        del body[field]
        return body


def fresh_slug() -> str:
    return "h-" + secrets.token_hex(6)


@pytest.fixture(scope="module")
async def targets(client: httpx.AsyncClient) -> dict[str, Target]:
    tenant = await create_tenant(client)
    return {
        "tenant": Target(KEYS, tenant.headers, lambda: {"name": "ci key", "scopes": ["admin"]}),
        "operator": Target(
            TENANTS, platform_headers(), lambda: {"slug": fresh_slug(), "name": "Hostile Inc"}
        ),
    }


BOTH = pytest.mark.parametrize("route", ["tenant", "operator"])


def problem(response: httpx.Response, *statuses: int, field: str | None = None) -> dict[str, Any]:
    """A problem+json with one of these statuses; if `field` is given, the detail names it as a field."""
    assert response.status_code in statuses, (response.status_code, response.text)
    body = assert_problem(response, response.status_code)
    if field is not None:
        detail = body.get("detail", "")
        named = (
            detail.startswith(field)
            or f"`{field}`" in detail
            or f"{field}:" in detail
            or f"{field}[" in detail
        )
        assert named, f"detail does not name {field!r}: {detail!r}"
    return body


async def post_raw(
    client: httpx.AsyncClient, target: Target, content: bytes, content_type: str = "application/json"
) -> httpx.Response:
    headers = {**target.headers, "content-type": content_type}
    return await client.post(target.url, content=content, headers=headers)


# --- malformed bodies ---------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"name": "x", "scopes": ["adm', id="truncated"),
        pytest.param(b"not json at all", id="not-json"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'[{"name": "x"}]', id="array-of-object"),
        pytest.param(b"null", id="null"),
        pytest.param(b'"a string"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe\x00{", id="not-utf8"),
        pytest.param(b'{"name": "\\ud800", "scopes": ["admin"]}', id="lone-surrogate"),
        pytest.param(b'{"name": NaN}', id="nan-token"),
        pytest.param(b'{"name": "x",, }', id="double-comma"),
    ],
)
async def test_malformed_body_is_400_problem(
    client: httpx.AsyncClient, targets: dict[str, Target], route: str, content: bytes
) -> None:
    problem(await post_raw(client, targets[route], content), 400)


@BOTH
async def test_empty_body_detail_is_readable(
    client: httpx.AsyncClient, targets: dict[str, Target], route: str
) -> None:
    body = problem(await post_raw(client, targets[route], b""), 400)
    assert "'data'" not in body["detail"], body


@BOTH
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, targets: dict[str, Target], route: str, content_type: str
) -> None:
    target = targets[route]
    response = await post_raw(client, target, json.dumps(target.valid()).encode(), content_type)
    problem(response, 415)


# --- unknown fields, wrong types, missing fields ------------------------------------------------------


@BOTH
async def test_unknown_field_is_named(
    client: httpx.AsyncClient, targets: dict[str, Target], route: str
) -> None:
    target = targets[route]
    response = await client.post(target.url, json=target.valid(sneaky_extra=1), headers=target.headers)
    problem(response, 400, field="sneaky_extra")


@pytest.mark.parametrize(
    ("route", "override", "field"),
    [
        ("tenant", {"name": 5}, "name"),
        ("tenant", {"name": None}, "name"),
        ("tenant", {"name": ["x"]}, "name"),
        ("tenant", {"scopes": "admin"}, "scopes"),
        ("tenant", {"scopes": {"admin": True}}, "scopes"),
        ("tenant", {"scopes": [1]}, "scopes"),
        ("tenant", {"scopes": []}, "scopes"),
        ("tenant", {"scopes": ["admin"] * 33}, "scopes"),
        ("tenant", {"expires_at": "tomorrow"}, "expires_at"),
        ("tenant", {"expires_at": True}, "expires_at"),
        ("tenant", {"expires_at": 10**20}, "expires_at"),  # (a plausible epoch int is accepted: lax decoding)
        ("tenant", {"expires_at": "2099-13-45T99:00:00Z"}, "expires_at"),
        ("tenant", {"mode": "prod"}, "mode"),
        ("tenant", {"mode": 1}, "mode"),
        ("tenant", {"mode": "te\x00st"}, "mode"),
        ("tenant", {"name": "   "}, "name"),
        ("tenant", {"name": ""}, "name"),
        ("operator", {"name": 5}, "name"),
        ("operator", {"slug": 5}, "slug"),
        ("operator", {"slug": ["a-b"]}, "slug"),
        ("operator", {"slug": "a"}, "slug"),
        ("operator", {"slug": "UPPER"}, "slug"),
        ("operator", {"slug": "ab\x00cd"}, "slug"),
        ("operator", {"slug": "trailing-\n"}, "slug"),
        ("operator", {"slug": "é-accent"}, "slug"),
        ("operator", {"name": True}, "name"),
    ],
)
async def test_wrong_type_or_value_names_the_field(
    client: httpx.AsyncClient, targets: dict[str, Target], route: str, override: dict[str, Any], field: str
) -> None:
    target = targets[route]
    response = await client.post(target.url, json=target.valid(**override), headers=target.headers)
    problem(response, 400, 422, field=field)


@pytest.mark.parametrize(
    ("route", "field"),
    [("tenant", "name"), ("tenant", "scopes"), ("operator", "slug"), ("operator", "name")],
)
async def test_missing_required_field_is_named(
    client: httpx.AsyncClient, targets: dict[str, Target], route: str, field: str
) -> None:
    target = targets[route]
    response = await client.post(target.url, json=target.without(field), headers=target.headers)
    problem(response, 400, 422, field=field)


@BOTH
async def test_empty_object_is_400(client: httpx.AsyncClient, targets: dict[str, Target], route: str) -> None:
    target = targets[route]
    problem(await client.post(target.url, json={}, headers=target.headers), 400)


# --- size ---------------------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("idempotency_key", [None, "big-body"], ids=["plain", "with-idempotency-key"])
async def test_ten_megabyte_body_is_413(
    client: httpx.AsyncClient, targets: dict[str, Target], route: str, idempotency_key: str | None
) -> None:
    target = targets[route]
    headers = {**target.headers, "content-type": "application/json"}
    if idempotency_key:
        headers["idempotency-key"] = idempotency_key + secrets.token_hex(4)
    response = await client.post(target.url, content=b"x" * TEN_MB, headers=headers)
    problem(response, 413)
    assert response.json()["type"] == "/problems/payload-too-large"


@pytest.mark.parametrize(
    ("route", "override", "field"),
    [
        ("tenant", {"name": "n" * 10_000}, "name"),
        ("tenant", {"scopes": ["s" * 10_000]}, "scopes"),
        ("operator", {"name": "n" * 10_000}, "name"),
        ("operator", {"slug": "s" * 10_000}, "slug"),
    ],
)
async def test_very_long_string_names_the_field(
    client: httpx.AsyncClient, targets: dict[str, Target], route: str, override: dict[str, Any], field: str
) -> None:
    target = targets[route]
    response = await client.post(target.url, json=target.valid(**override), headers=target.headers)
    problem(response, 400, 422, field=field)


# --- paths and query parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("GET", "/v1/keys/not-a-uuid", "tenant"),
        ("GET", "/v1/keys/%00", "tenant"),
        ("GET", "/v1/keys/' OR 1=1 --", "tenant"),
        ("DELETE", "/v1/keys/not-a-uuid", "tenant"),
        ("POST", "/v1/keys/not-a-uuid/rotate", "tenant"),
        ("GET", "/v1/keys/00000000-0000-0000-0000-00000000000g", "tenant"),
        ("GET", "/v1/tenants/123", "operator"),
        ("PATCH", "/v1/tenants/123", "operator"),
        ("DELETE", "/v1/tenants/123", "operator"),
        ("POST", "/v1/tenants/123/keys", "operator"),
        ("GET", "/v1/tenants/" + "9" * 5000, "operator"),
    ],
)
async def test_invalid_uuid_in_path_is_4xx_problem(
    client: httpx.AsyncClient, targets: dict[str, Target], method: str, path: str, route: str
) -> None:
    response = await client.request(method, path, headers=targets[route].headers, json={})
    problem(response, 400, 404, 422)


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v1/keys/00000000-0000-0000-0000-000000000000", "tenant"),
        ("/v1/tenants/00000000-0000-0000-0000-000000000000", "operator"),
    ],
)
async def test_well_formed_unknown_uuid_is_404(
    client: httpx.AsyncClient, targets: dict[str, Target], path: str, route: str
) -> None:
    problem(await client.get(path, headers=targets[route].headers), 404)


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@BOTH
@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=100000", "limit"),
        ("limit=99999999999999999999999999", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("limit=%00", "limit"),
        ("cursor=garbage", "cursor"),
        ("cursor=%00", "cursor"),
        ("cursor=" + "a" * 300, "cursor"),
        ("cursor=" + _cursor("9999-99-99|not-a-uuid"), "cursor"),
        ("cursor=" + _cursor("2020-01-01T00:00:00+99:00|00000000-0000-0000-0000-000000000000"), "cursor"),
        ("cursor=" + _cursor(SQL), "cursor"),
    ],
)
async def test_bad_query_parameter_is_named(
    client: httpx.AsyncClient, targets: dict[str, Target], route: str, query: str, param: str
) -> None:
    target = targets[route]
    response = await client.get(f"{target.url}?{query}", headers=target.headers)
    problem(response, 400, 422, field=param)


# --- strings that look dangerous are just data --------------------------------------------------------


async def test_sql_looking_key_name_is_stored_verbatim(
    client: httpx.AsyncClient, targets: dict[str, Target]
) -> None:
    target = targets["tenant"]
    r = await client.post(KEYS, json=target.valid(name=SQL), headers=target.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == SQL
    r = await client.get(f"{KEYS}/{created['id']}", headers=target.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == SQL
    # The table is still there and still works: list it, and write to it again.
    r = await client.get(f"{KEYS}?limit=200", headers=target.headers)
    assert r.status_code == 200, r.text
    assert SQL in [k["name"] for k in r.json()["items"]]
    r = await client.post(KEYS, json=target.valid(name="after the injection attempt"), headers=target.headers)
    assert r.status_code == 201, r.text
    # The key made with the injected name authenticates like any other.
    r = await client.get(KEYS, headers=bearer(created["key"]))
    assert r.status_code == 200, r.text


async def test_sql_looking_tenant_name_is_stored_verbatim(
    client: httpx.AsyncClient, targets: dict[str, Target]
) -> None:
    target = targets["operator"]
    name = "'; DROP TABLE tenants; --"
    r = await client.post(TENANTS, json=target.valid(name=name), headers=target.headers)
    assert r.status_code == 201, r.text
    r = await client.get(f"{TENANTS}/{r.json()['id']}", headers=target.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == name
    r = await client.post(TENANTS, json=target.valid(), headers=target.headers)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("slug", [SQL, "a'; --", "x' OR '1'='1", "robert'); drop table tenants;--"])
async def test_sql_looking_slug_is_rejected(
    client: httpx.AsyncClient, targets: dict[str, Target], slug: str
) -> None:
    target = targets["operator"]
    response = await client.post(TENANTS, json=target.valid(slug=slug), headers=target.headers)
    problem(response, 400, 422, field="slug")


UNICODE_ODDITIES = [
    pytest.param("\u202eevil\u202c", id="rtl-override"),
    pytest.param("zero\u200bwidth\u200djoiner", id="zero-width"),
    pytest.param("\ufeffbom", id="bom"),
    pytest.param("emoji 😀👩‍👩‍👧 flag 🇪🇺", id="emoji-zwj"),
    pytest.param("max \U0010ffff plane", id="max-codepoint"),
    pytest.param("e\u0301\u0301\u0301 combining", id="combining"),
    pytest.param("Ω ß İ ǅ", id="case-oddities"),
    pytest.param("tab\tnew\nline\rcr", id="tab-and-newlines"),
    pytest.param("<script>alert(1)</script>", id="html"),
    pytest.param("${jndi:ldap://x}/%s%n{{7*7}}", id="template-and-format"),
]


@BOTH
@pytest.mark.parametrize("name", UNICODE_ODDITIES)
async def test_unicode_oddities_in_name_are_stored_verbatim(
    client: httpx.AsyncClient, targets: dict[str, Target], route: str, name: str
) -> None:
    target = targets[route]
    r = await client.post(target.url, json=target.valid(name=name), headers=target.headers)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name
    r = await client.get(f"{target.url}/{r.json()['id']}", headers=target.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == name


@BOTH
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("a\x00b", id="nul"),
        pytest.param("\x07bell", id="bel"),
        pytest.param("\x1b[31mred\x1b[0m", id="ansi-escape"),
        pytest.param("del\x7f", id="del"),
        pytest.param("vertical\x0btab", id="vt"),
    ],
)
async def test_c0_control_characters_in_name_are_refused_naming_it(
    client: httpx.AsyncClient, targets: dict[str, Target], route: str, name: str
) -> None:
    # PostgreSQL cannot store U+0000 at all (it used to surface as a 500); the other C0 controls are
    # refused too, at validation, with the field named.
    target = targets[route]
    response = await client.post(target.url, json=target.valid(name=name), headers=target.headers)
    problem(response, 400, 422, field="name")


@BOTH
@pytest.mark.parametrize("name", [pytest.param("next\x85line", id="nel"), pytest.param("\x9b31m", id="csi")])
async def test_c1_control_characters_are_refused_or_stored_verbatim(
    client: httpx.AsyncClient, targets: dict[str, Target], route: str, name: str
) -> None:
    target = targets[route]
    response = await client.post(target.url, json=target.valid(name=name), headers=target.headers)
    if response.status_code == 201:
        r = await client.get(f"{target.url}/{response.json()['id']}", headers=target.headers)
        assert r.json()["name"] == name
    else:
        problem(response, 400, 422, field="name")


async def test_nul_byte_in_operator_issued_key_name_is_4xx(
    client: httpx.AsyncClient, targets: dict[str, Target]
) -> None:
    target = targets["operator"]
    r = await client.post(TENANTS, json=target.valid(), headers=target.headers)
    assert r.status_code == 201, r.text
    response = await client.post(
        f"{TENANTS}/{r.json()['id']}/keys",
        json={"name": "a\x00b", "scopes": ["admin"]},
        headers=target.headers,
    )
    problem(response, 400, 422, field="name")


async def test_nul_byte_in_tenant_rename_is_4xx(
    client: httpx.AsyncClient, targets: dict[str, Target]
) -> None:
    target = targets["operator"]
    r = await client.post(TENANTS, json=target.valid(), headers=target.headers)
    assert r.status_code == 201, r.text
    response = await client.patch(
        f"{TENANTS}/{r.json()['id']}", json={"name": "a\x00b"}, headers=target.headers
    )
    problem(response, 400, 422, field="name")


async def test_nul_byte_in_scope_is_4xx_naming_scopes(
    client: httpx.AsyncClient, targets: dict[str, Target]
) -> None:
    target = targets["tenant"]
    response = await client.post(KEYS, json=target.valid(scopes=["ad\x00min"]), headers=target.headers)
    problem(response, 400, 422, field="scopes")


# --- key creation rules -------------------------------------------------------------------------------


@pytest.mark.parametrize("scopes", [["nope"], ["admin", "keys:write"], ["ADMIN"], [SQL]])
async def test_unknown_scope_is_422_naming_scopes(
    client: httpx.AsyncClient, targets: dict[str, Target], scopes: list[str]
) -> None:
    target = targets["tenant"]
    response = await client.post(KEYS, json=target.valid(scopes=scopes), headers=target.headers)
    problem(response, 422, field="scopes")


async def test_unknown_scope_on_operator_key_route_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(TENANTS, json={"slug": fresh_slug(), "name": "x"}, headers=platform_headers())
    assert r.status_code == 201, r.text
    response = await client.post(
        f"{TENANTS}/{r.json()['id']}/keys", json={"name": "k", "scopes": ["nope"]}, headers=platform_headers()
    )
    problem(response, 422, field="scopes")


@pytest.mark.parametrize(
    "expires_at",
    [
        pytest.param("2020-01-01T00:00:00Z", id="past"),
        pytest.param(datetime.now(UTC).replace(microsecond=0).isoformat(), id="now-ish"),
        pytest.param("0001-01-01T00:00:00+14:00", id="year-one"),
        pytest.param("2099-01-01T00:00:00", id="no-timezone"),
    ],
)
async def test_bad_expires_at_is_422(
    client: httpx.AsyncClient, targets: dict[str, Target], expires_at: str
) -> None:
    target = targets["tenant"]
    response = await client.post(KEYS, json=target.valid(expires_at=expires_at), headers=target.headers)
    problem(response, 422, field="expires_at")


async def test_expires_at_beyond_year_9999_in_utc_is_4xx(
    client: httpx.AsyncClient, targets: dict[str, Target]
) -> None:
    target = targets["tenant"]
    response = await client.post(
        KEYS, json=target.valid(expires_at="9999-12-31T23:59:59-14:00"), headers=target.headers
    )
    problem(response, 400, 422, field="expires_at")


# --- property: whatever JSON arrives, the answer is never a 5xx ---------------------------------------


@pytest.fixture(scope="module")
def sync_api(settings: Settings) -> Iterator[tuple[TestClient[Any], dict[str, str]]]:
    """A second app on the same database, driven synchronously by Litestar's TestClient (its own thread and
    event loop, so Hypothesis's synchronous @given works). A separate app rather than the session one: the
    TestClient runs the app's lifespan, whose shutdown disposes the engine and Redis client it was given."""
    with TestClient(create_app(settings)) as http:
        r = http.post(
            TENANTS,
            json={"slug": "hyp-" + secrets.token_hex(5), "name": "Hypothesis"},
            headers=platform_headers(),
        )
        assert r.status_code == 201, r.text
        r = http.post(
            f"{TENANTS}/{r.json()['id']}/keys",
            json={"name": "admin", "scopes": ["admin"]},
            headers=platform_headers(),
        )
        assert r.status_code == 201, r.text
        yield http, bearer(r.json()["key"])


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A named function, not a lambda: Hypothesis describes lambdas by reading their source through a cache
    # that has failed with a KeyError mid-run (hypothesis/internal/lambda_sources.py), failing the test.
    return st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(), _containers, max_leaves=20
)

_odd = st.sampled_from(
    [
        "\x00",
        "'",
        '"',
        "\\",
        "%",
        "_",
        ";",
        "-",
        "\u202e",
        "\u200b",
        "\ufeff",
        "\u2028",
        "\u0085",
        "\x9b",
        "\x7f",
        "\U0010ffff",
        "\ud7ff",
        "\ue000",
    ]
)
_text = st.text(alphabet=st.characters() | _odd, max_size=250)
_dates = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 31), timezones=st.none() | st.timezones()
)
key_like = st.fixed_dictionaries(  # near-valid bodies, so that examples get past decoding to the database
    {
        "name": _text,
        "scopes": st.lists(st.sampled_from(["admin", "keys:read"]) | _text, min_size=1, max_size=3),
    },
    optional={
        "mode": st.sampled_from(["live", "test"]) | _text,
        "expires_at": st.none() | _dates.map(datetime.isoformat) | _text,
    },
)


def test_arbitrary_json_to_create_key_is_never_5xx(sync_api: tuple[TestClient[Any], dict[str, str]]) -> None:
    http, headers = sync_api
    headers = {**headers, "content-type": "application/json"}
    outcomes: Counter[int] = Counter()

    @hypothesis_settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(body=json_values | key_like)
    def check(body: Any) -> None:
        content = json.dumps(body, allow_nan=True).encode()  # NaN/Infinity: invalid JSON on purpose
        response = http.post(KEYS, content=content, headers=headers)
        outcomes[response.status_code] += 1
        assert response.status_code < 500, (body, response.text)
        if response.status_code >= 400:
            assert_problem(response, response.status_code)

    check()
    assert sum(outcomes.values()) >= 100, outcomes  # Hypothesis really ran the examples
    assert any(400 <= s < 500 for s in outcomes), outcomes
    assert outcomes[201] > 0, outcomes  # and some examples got all the way to a stored key
