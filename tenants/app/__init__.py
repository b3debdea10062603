"""The tenant's white-labelled patient app: a server-rendered page per tenant at /t/{slug}/."""
