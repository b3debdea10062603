"""API keys -> Principal; scopes; guards."""

from lumen.core.auth.principal import Principal

__all__ = ["Principal"]
