"""The local engine (inference/local/engine.py) in-process: requests decoded together at every step, each
stopping on its own; greedy and seeded sampling deterministic; mixed-adapter batches."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from lumen.inference.local.engine import AdapterError, Engine, GenerationRequest
from lumen.inference.local.store import StoredModel
from tests.inference.conftest import Adapters

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(stored_model: StoredModel, lora_adapters: Adapters) -> Iterator[Engine]:
    e = Engine(stored_model, max_batch=8, max_adapters=2)
    e.load_adapter("alpha", str(lora_adapters.alpha))
    e.load_adapter("beta", str(lora_adapters.beta))
    yield e
    e.close()


def ask(engine: Engine, text: str, **kw: object) -> GenerationRequest:
    return GenerationRequest(prompt_ids=engine.encode_chat([{"role": "user", "content": text}]), **kw)  # type: ignore[arg-type]


async def run(engine: Engine, request: GenerationRequest, delay: float = 0.0) -> tuple[str, str, int]:
    await asyncio.sleep(delay)
    text, reason, count = "", "", 0
    async for chunk in engine.stream(request):
        text += chunk.text
        if chunk.finish_reason:
            reason, count = chunk.finish_reason, chunk.completion_tokens
    return text, reason, count


async def test_greedy_decoding_is_deterministic(engine: Engine) -> None:
    first = await run(engine, ask(engine, "Name a fruit.", max_tokens=6))
    second = await run(engine, ask(engine, "Name a fruit.", max_tokens=6))
    assert first == second
    assert first[0].strip()


async def test_concurrent_requests_share_decoding_steps_and_stop_on_their_own(engine: Engine) -> None:
    before = dict(engine.stats)
    lengths = [2, 5, 8, 3]
    results = await asyncio.gather(
        *(
            run(engine, ask(engine, f"Count to {i + 3}.", max_tokens=n), delay=0.01 * i)
            for i, n in enumerate(lengths)
        )
    )
    for (_, reason, count), n in zip(results, lengths, strict=True):
        assert count <= n
        assert reason in ("length", "stop")
        if reason == "length":
            assert count == n
    steps = engine.stats["steps"] - before["steps"]
    rows = engine.stats["batch_rows"] - before["batch_rows"]
    assert rows > steps, "requests that arrived together were decoded one at a time"


async def test_a_batch_gives_each_request_what_it_gets_alone(engine: Engine) -> None:
    prompts = ["Say hello.", "Name a colour.", "What is two plus two?"]
    alone = [await run(engine, ask(engine, p, max_tokens=6)) for p in prompts]
    together = await asyncio.gather(*(run(engine, ask(engine, p, max_tokens=6)) for p in prompts))
    assert [t for t, _, _ in together] == [t for t, _, _ in alone]


async def test_a_seed_makes_sampling_repeatable(engine: Engine) -> None:
    a = await run(engine, ask(engine, "Tell me a word.", max_tokens=8, temperature=1.0, seed=7))
    b = await run(engine, ask(engine, "Tell me a word.", max_tokens=8, temperature=1.0, seed=7))
    assert a == b


async def test_stop_strings_end_the_answer_before_them(engine: Engine) -> None:
    text, _, _ = await run(engine, ask(engine, "Say hello.", max_tokens=12))
    word = text.split()[1]
    stopped, reason, _ = await run(engine, ask(engine, "Say hello.", max_tokens=12, stop=[word]))
    assert reason == "stop"
    assert word not in stopped
    assert text.startswith(stopped)


async def test_adapters_change_the_output_and_mix_in_one_batch(engine: Engine) -> None:
    prompt = "Describe the sea."
    base = await run(engine, ask(engine, prompt, max_tokens=8))
    alpha = await run(engine, ask(engine, prompt, max_tokens=8, adapter="alpha"))
    beta = await run(engine, ask(engine, prompt, max_tokens=8, adapter="beta"))
    assert len({base[0], alpha[0], beta[0]}) == 3
    mixed = await asyncio.gather(
        run(engine, ask(engine, prompt, max_tokens=8)),
        run(engine, ask(engine, prompt, max_tokens=8, adapter="alpha")),
        run(engine, ask(engine, prompt, max_tokens=8, adapter="beta")),
    )
    assert [m[0] for m in mixed] == [base[0], alpha[0], beta[0]]


def test_an_unknown_adapter_is_refused(engine: Engine) -> None:
    with pytest.raises(AdapterError, match="not loaded"):
        engine.submit(ask(engine, "hi", adapter="gamma"), lambda chunk: None)


def test_loading_beyond_capacity_or_a_missing_folder_is_refused(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="most this engine holds"):
        engine.load_adapter("gamma", str(tmp_path))
    beta = engine.adapters["beta"]
    engine.unload_adapter("beta")
    try:
        with pytest.raises(AdapterError, match=r"adapter_config\.json"):
            engine.load_adapter("gamma", str(tmp_path))
    finally:
        engine.load_adapter("beta", beta)
