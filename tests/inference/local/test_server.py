"""`lumen inference serve` (inference/local/server.py) as a real process, driven with the official `openai`
client: the same paths and payloads as vLLM's server."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.inference.conftest import Adapters, EngineProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replica(replicas: list[EngineProcess]) -> EngineProcess:
    return replicas[0]


@pytest.fixture(scope="module")
def oai(replica: EngineProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{replica.url}/v1", api_key="unused", max_retries=0)


def test_models_lists_the_base_model(oai: openai.OpenAI) -> None:
    ids = [m.id for m in oai.models.list().data]
    assert "lumen-base" in ids


def test_chat_completion(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(
        model="lumen-base", messages=[{"role": "user", "content": "Say hello."}], max_tokens=5, temperature=0
    )
    assert r.choices[0].message.content
    assert r.choices[0].finish_reason in ("length", "stop")
    assert r.usage is not None and r.usage.completion_tokens <= 5 and r.usage.prompt_tokens > 5


def test_chat_streaming_matches_the_whole_answer(oai: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Name a colour."}]
    whole = oai.chat.completions.create(model="lumen-base", messages=messages, max_tokens=6)  # type: ignore[arg-type]
    stream = oai.chat.completions.create(
        model="lumen-base",
        messages=messages,
        max_tokens=6,
        stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    )
    parts, usage = [], None
    for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
        if chunk.usage:
            usage = chunk.usage
    assert "".join(parts) == whole.choices[0].message.content
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


def test_streams_are_server_sent_events(replica: EngineProcess) -> None:
    body = {
        "model": "lumen-base",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 2,
        "stream": True,
    }
    r = httpx.post(f"{replica.url}/v1/chat/completions", json=body, timeout=60)
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.text.rstrip().endswith("data: [DONE]")


def test_text_completion(oai: openai.OpenAI) -> None:
    r = oai.completions.create(model="lumen-base", prompt="The capital of France is", max_tokens=4)
    assert r.choices[0].text


def test_embeddings_are_384_dimensional_and_normalised(oai: openai.OpenAI) -> None:
    r = oai.embeddings.create(model="all-minilm-l6-v2", input=["aspirin thins the blood", "the sea is blue"])
    assert [len(d.embedding) for d in r.data] == [384, 384]
    assert abs(sum(x * x for x in r.data[0].embedding) - 1.0) < 1e-3


def test_an_unknown_model_is_a_404(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}], max_tokens=2)


def test_bad_parameters_are_a_400(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(
            model="lumen-base", messages=[{"role": "user", "content": "hi"}], max_tokens=-3
        )


def test_adapters_load_answer_and_unload_at_run_time(
    replica: EngineProcess, oai: openai.OpenAI, lora_adapters: Adapters
) -> None:
    r = httpx.post(
        f"{replica.url}/v1/load_lora_adapter",
        json={"lora_name": "srv-alpha", "lora_path": str(lora_adapters.alpha)},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    try:
        models = {m.id: m for m in oai.models.list().data}
        assert "srv-alpha" in models
        messages = [{"role": "user", "content": "Describe the sea."}]
        base = oai.chat.completions.create(model="lumen-base", messages=messages, max_tokens=6)  # type: ignore[arg-type]
        tuned = oai.chat.completions.create(model="srv-alpha", messages=messages, max_tokens=6)  # type: ignore[arg-type]
        assert base.choices[0].message.content != tuned.choices[0].message.content
    finally:
        r = httpx.post(f"{replica.url}/v1/unload_lora_adapter", json={"lora_name": "srv-alpha"}, timeout=60)
    assert r.status_code == 200, r.text
    r = httpx.post(f"{replica.url}/v1/unload_lora_adapter", json={"lora_name": "srv-alpha"}, timeout=60)
    assert r.status_code == 404


def test_health_and_metrics(replica: EngineProcess) -> None:
    assert httpx.get(f"{replica.url}/health").status_code == 200
    metrics = httpx.get(f"{replica.url}/metrics").text
    assert "lumen_engine_generation_tokens_total" in metrics
    assert "lumen_engine_requests_running" in metrics


def test_metrics_count_adapter_loads_and_unloads(replica: EngineProcess, lora_adapters: Adapters) -> None:
    def counted() -> tuple[float, float]:
        values = {
            line.split()[0]: float(line.split()[1])
            for line in httpx.get(f"{replica.url}/metrics").text.splitlines()
            if line.startswith("lumen_engine_adapter_")
        }
        return values["lumen_engine_adapter_loads_total"], values["lumen_engine_adapter_unloads_total"]

    loads, unloads = counted()
    load = {"lora_name": "srv-count", "lora_path": str(lora_adapters.beta)}
    assert httpx.post(f"{replica.url}/v1/load_lora_adapter", json=load, timeout=60).status_code == 200
    refused = httpx.post(f"{replica.url}/v1/load_lora_adapter", json=load, timeout=60)  # already loaded
    assert refused.status_code == 400
    assert counted() == (loads + 1, unloads)
    unload = {"lora_name": "srv-count"}
    assert httpx.post(f"{replica.url}/v1/unload_lora_adapter", json=unload, timeout=60).status_code == 200
    assert counted() == (loads + 1, unloads + 1)
