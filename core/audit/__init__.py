"""Append-only, hash-chained audit trail (21 CFR 11.10(e), HIPAA 164.312(b)): record, verify, export."""
