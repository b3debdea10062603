"""The pool's tenant API (inference/pool/controllers.py) in the real app, pointed at two real engine
replicas: OpenAI-compatible chat (plain and streamed), models, the adapter registry with its refusals, tenant
isolation of adapters, audit without prompt text, and PluginContext.generate() through the same pool."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar, post
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from lumen.core.app import create_app
from lumen.core.settings import Settings
from lumen.plugins.sdk import ActionSpec, ChatMessage, Context, PluginInfo, hookimpl
from tests.conftest import TenantHandle, assert_problem, create_tenant
from tests.inference.conftest import Adapters, EngineProcess, archive_of
from tests.inference.pool.archives import adapter_files, tar_gz, zipped

pytestmark = pytest.mark.slow

HELLO = [{"role": "user", "content": "Say hello."}]


class Phrasing:
    """A plugin that phrases through ctx.generate(), as a domain plugin does."""

    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="phrasing", version="1.0.0", default_enabled=True)

    @hookimpl
    def register_actions(self) -> Mapping[str, ActionSpec]:
        return {"phrasing.say": ActionSpec(description="Say something.", access="read")}

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        @post("/v1/phrasing/say", operation_id="phrasingSay", opt={"action": "phrasing.say"}, status_code=200)
        async def say(ctx: Context) -> dict[str, Any]:
            out = await ctx.generate([ChatMessage(role="user", content="Say hello.")], max_tokens=4)
            vectors = await ctx.embed(["aspirin"])
            return {"text": out.text, "tokens": out.completion_tokens, "dims": len(vectors[0])}

        @post(
            "/v1/phrasing/say-streamed",
            operation_id="phrasingSayStreamed",
            opt={"action": "phrasing.say"},
            status_code=200,
        )
        async def say_streamed(ctx: Context) -> dict[str, Any]:
            messages = [ChatMessage(role="user", content="Say hello.")]
            whole = await ctx.generate(messages, max_tokens=8)
            pieces = [p async for p in ctx.generate_stream(messages, max_tokens=8)]
            return {"whole": whole.text, "pieces": pieces}

        return [say, say_streamed]


@pytest.fixture(scope="module")
def pool_app(settings: Settings, replicas: list[EngineProcess]) -> Litestar:
    return create_app(settings.with_overrides(inference_urls=[r.url for r in replicas]), plugins=[Phrasing()])


@pytest.fixture(scope="module")
async def api(pool_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=pool_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lumen.test", timeout=300) as http:
        yield http
    await pool_app.state.inference.pool.close()


@pytest.fixture
async def owner(api: httpx.AsyncClient) -> TenantHandle:
    return await create_tenant(api)


@pytest.fixture
async def other(api: httpx.AsyncClient) -> TenantHandle:
    return await create_tenant(api)


async def upload(
    api: httpx.AsyncClient, tenant: TenantHandle, name: str, archive: bytes, **form: str
) -> httpx.Response:
    files = {"file": ("adapter.tar.gz", archive, "application/gzip")}
    return await api.post("/v1/adapters", data={"name": name, **form}, files=files, headers=tenant.headers)


async def chat(api: httpx.AsyncClient, tenant: TenantHandle, model: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": HELLO, "max_tokens": 5, "temperature": 0, **extra}
    return await api.post("/v1/chat/completions", json=body, headers=tenant.headers)


async def test_chat_completion_with_the_base_model(api: httpx.AsyncClient, owner: TenantHandle) -> None:
    r = await chat(api, owner, "lumen-base")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "lumen-base"
    assert body["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens"] <= 5


async def test_streaming_through_the_public_api(api: httpx.AsyncClient, owner: TenantHandle) -> None:
    whole = (await chat(api, owner, "lumen-base")).json()["choices"][0]["message"]["content"]
    r = await chat(api, owner, "lumen-base", stream=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.text[:500]
    lines = [ln[6:] for ln in r.text.splitlines() if ln.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    events = [msgspec.json.decode(ln) for ln in lines[:-1]]
    assert "".join(e["choices"][0]["delta"]["content"] or "" for e in events) == whole
    assert all(e["model"] == "lumen-base" for e in events)


async def test_an_unknown_model_is_a_404(api: httpx.AsyncClient, owner: TenantHandle) -> None:
    assert_problem(await chat(api, owner, "someone-elses-adapter"), 404, "not-found")


async def test_an_unknown_field_is_a_400_naming_it(api: httpx.AsyncClient, owner: TenantHandle) -> None:
    r = await chat(api, owner, "lumen-base", functions=[])
    body = assert_problem(r, 400)
    assert "functions" in r.text, body


async def test_the_audit_record_keeps_a_hash_of_the_prompt_never_its_text(
    api: httpx.AsyncClient, owner: TenantHandle, owner_engine: AsyncEngine
) -> None:
    secret = "my rash started after the new medicine zq-417"
    body = {"model": "lumen-base", "messages": [{"role": "user", "content": secret}], "max_tokens": 2}
    assert (await api.post("/v1/chat/completions", json=body, headers=owner.headers)).status_code == 200
    async with owner_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(owner.id)})
        rows = (
            await conn.execute(
                text(
                    "SELECT details::text FROM audit_events "
                    "WHERE tenant_id = :t AND action = 'inference.chat'"
                ),
                {"t": owner.id},
            )
        ).all()
    assert rows
    assert all("zq-417" not in row[0] for row in rows)
    digest = hashlib.sha256(secret.encode() + b"\x00").hexdigest()
    assert any(digest in row[0] for row in rows)


async def test_a_tenants_adapter_changes_its_answers_and_only_its_own(
    api: httpx.AsyncClient, owner: TenantHandle, other: TenantHandle, lora_adapters: Adapters
) -> None:
    r = await upload(api, owner, "house-style", archive_of(lora_adapters.alpha), critical="true")
    assert r.status_code == 201, r.text
    adapter = r.json()
    assert adapter["rank"] == 4 and adapter["critical"] is True and adapter["shared"] is False
    models = (await api.get("/v1/models", headers=owner.headers)).json()["data"]
    assert {"lumen-base", "house-style"} <= {m["id"] for m in models}

    base = (await chat(api, owner, "lumen-base")).json()["choices"][0]["message"]["content"]
    tuned = await chat(api, owner, "house-style")
    assert tuned.status_code == 200, tuned.text
    assert tuned.json()["model"] == "house-style"
    assert tuned.json()["choices"][0]["message"]["content"] != base

    # Tenant B: cannot call it, see it, read it or delete it.
    assert_problem(await chat(api, other, "house-style"), 404)
    assert "house-style" not in {
        m["id"] for m in (await api.get("/v1/models", headers=other.headers)).json()["data"]
    }
    assert_problem(await api.get(f"/v1/adapters/{adapter['id']}", headers=other.headers), 404)
    assert_problem(await api.delete(f"/v1/adapters/{adapter['id']}", headers=other.headers), 404)

    r = await api.delete(f"/v1/adapters/{adapter['id']}", headers=owner.headers)
    assert r.status_code == 204
    assert_problem(await chat(api, owner, "house-style"), 404)
    pool = api._transport.app.state.inference.pool  # type: ignore[attr-defined]
    assert all(f"a-{adapter['id'].replace('-', '')}" not in r.adapters for r in pool.replicas)


async def test_a_platform_shared_adapter_is_usable_by_every_tenant_and_deletable_by_none(
    api: httpx.AsyncClient, owner: TenantHandle, lora_adapters: Adapters
) -> None:
    from tests.conftest import platform_headers

    files = {"file": ("a.tar.gz", archive_of(lora_adapters.beta), "application/gzip")}
    r = await api.post("/v1/adapters", data={"name": "shared-tone"}, files=files, headers=platform_headers())
    assert r.status_code == 201, r.text
    shared = r.json()
    try:
        assert shared["shared"] is True
        assert (await chat(api, owner, "shared-tone")).status_code == 200
        assert_problem(await api.delete(f"/v1/adapters/{shared['id']}", headers=owner.headers), 404)
    finally:
        r = await api.delete(f"/v1/adapters/{shared['id']}", headers=platform_headers())
        assert r.status_code == 204


@pytest.mark.parametrize(
    ("archive", "reason"),
    [
        (b"\x00" * 300, "neither a readable"),
        (tar_gz({**adapter_files(), "adapter_model.bin": b"\x80\x04pickle"}), "pickle"),
        (zipped({**adapter_files(), "model.pt": b"\x80\x04"}), "pickle"),
        (
            tar_gz({"adapter_config.json": adapter_files()["adapter_config.json"]}),
            "lacks adapter_model.safetensors",
        ),
        (tar_gz(adapter_files(base="meta-llama/Llama-3-8B")), "base_model_name_or_path"),
        (tar_gz(adapter_files(rank=512)), "rank"),
        (tar_gz(adapter_files(peft_type="IA3")), "peft_type"),
        (tar_gz({**adapter_files(), "adapter_model.safetensors": b"not safetensors"}), "safetensors"),
        (tar_gz(adapter_files(), folder="../../etc"), "path"),
        (tar_gz({**adapter_files(), "run.sh": b"rm -rf /"}), "Unexpected file"),
    ],
    ids=[
        "garbage",
        "pickle-bin",
        "pickle-zip",
        "no-weights",
        "wrong-base",
        "rank",
        "not-lora",
        "bad-tensors",
        "traversal",
        "stray-file",
    ],
)
async def test_a_bad_adapter_archive_is_refused_with_the_reason(
    api: httpx.AsyncClient, owner: TenantHandle, archive: bytes, reason: str
) -> None:
    r = await upload(api, owner, "bad", archive)
    body = assert_problem(r, 422)
    assert reason in body["detail"], body
    assert (await api.get("/v1/adapters", headers=owner.headers)).json()["items"] == []


async def test_an_upload_must_be_multipart_with_a_file_and_a_name(
    api: httpx.AsyncClient, owner: TenantHandle
) -> None:
    assert_problem(await api.post("/v1/adapters", json={"name": "x"}, headers=owner.headers), 415)
    r = await api.post(
        "/v1/adapters", data={"name": "x"}, files={"other": ("a", b"b")}, headers=owner.headers
    )
    assert "file" in assert_problem(r, 422)["detail"]
    r = await upload(api, owner, "Bad Name!", tar_gz(adapter_files()))
    assert "name" in assert_problem(r, 422)["detail"]


async def test_a_second_adapter_with_the_same_name_conflicts(
    api: httpx.AsyncClient, owner: TenantHandle
) -> None:
    assert (await upload(api, owner, "twice", tar_gz(adapter_files()))).status_code == 201
    assert_problem(await upload(api, owner, "twice", tar_gz(adapter_files())), 409)


async def test_plugins_generate_and_embed_through_the_same_pool(
    api: httpx.AsyncClient, owner: TenantHandle
) -> None:
    r = await api.post("/v1/phrasing/say", headers=owner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] and 1 <= body["tokens"] <= 4 and body["dims"] == 384


async def test_plugins_generate_stream_yields_the_same_text_in_pieces(
    api: httpx.AsyncClient, owner: TenantHandle
) -> None:
    r = await api.post("/v1/phrasing/say-streamed", headers=owner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["pieces"]) >= 2, "the text arrives as it is generated, not at once"
    assert "".join(body["pieces"]) == body["whole"]  # temperature 0: the same answer either way


async def test_without_inference_servers_chat_is_a_503_but_adapters_still_register(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post(
        "/v1/chat/completions", json={"model": "lumen-base", "messages": HELLO}, headers=tenant_a.headers
    )
    assert_problem(r, 503, "service-unavailable")
    files = {"file": ("a.tar.gz", tar_gz(adapter_files()), "application/gzip")}
    r = await client.post("/v1/adapters", data={"name": "offline"}, files=files, headers=tenant_a.headers)
    assert r.status_code == 201, r.text
