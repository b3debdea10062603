"""The kernel every request passes through: settings, app, database, auth, tenancy, HTTP edge."""
