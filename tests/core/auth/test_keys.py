from __future__ import annotations

import pytest

from lumen.core.auth.keys import InvalidKeyFormat, generate_key, hash_key, parse_key


def test_generated_keys_parse_back() -> None:
    for mode in ("live", "test"):
        generated = generate_key(mode)
        parsed = parse_key(generated.key)
        assert generated.key.startswith(f"lm_{mode}_")
        assert parsed.prefix == generated.prefix and parsed.mode == mode
        assert parsed.secret_hash == generated.secret_hash == hash_key(generated.key)
        assert len(parsed.secret_hash) == 32


def test_prefix_is_not_the_secret() -> None:
    generated = generate_key()
    assert generated.key.startswith(generated.prefix)
    assert len(generated.key) - len(generated.prefix) >= 28  # > 160 bits stay secret


def test_keys_are_unique() -> None:
    assert len({generate_key().key for _ in range(500)}) == 500


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "lm_live_",
        "lm_prod_" + "a" * 36,
        "lm_live_" + "a" * 35,
        "lm_live_" + "a" * 37,
        "lm_live_" + "!" * 36,
        "Bearer lm_live_x",
    ],
)
def test_malformed_keys_are_refused(bad: str) -> None:
    with pytest.raises(InvalidKeyFormat):
        parse_key(bad)


def test_every_single_character_change_breaks_the_checksum() -> None:
    key = generate_key().key
    body_start = len("lm_live_")
    for i in range(body_start, len(key)):
        for replacement in "0aZ":
            if key[i] == replacement:
                continue
            mutated = key[:i] + replacement + key[i + 1 :]
            with pytest.raises(InvalidKeyFormat):
                parse_key(mutated)
