"""The inference fixtures (the stored model, two real engine replicas) for the training tests."""

from tests.inference.conftest import replicas, stored_model

__all__ = ["replicas", "stored_model"]
