"""Outbound webhooks: endpoints, events, signed deliveries (Standard Webhooks), retries, replay."""
