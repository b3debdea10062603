"""lumen-client: the Python client for the Lumen API."""

from lumen_client import errors
from lumen_client._async import AsyncLumen
from lumen_client._sync import Lumen
from lumen_client.errors import LumenError, ProblemError
from lumen_client.webhooks import sign_webhook, verify_webhook

__all__ = ["AsyncLumen", "Lumen", "LumenError", "ProblemError", "errors", "sign_webhook", "verify_webhook"]
__version__ = "0.1.0"
