"""The units plugin is tested inside a real Lumen (embedded PostgreSQL and Redis) through the SDK's testing
kit only, as any partner would test theirs. The plugin loads through its installed entry point
(`pip install -e plugins/examples/units`), exactly as in production."""

pytest_plugins = ["lumen.plugins.sdk.testing"]
