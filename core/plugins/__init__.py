"""The plugin host: loading plugins through entry points, per-tenant enablement, calling hooks."""
