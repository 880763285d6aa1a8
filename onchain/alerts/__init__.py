"""Alerts: rules evaluated on the stream, firings stored, deliveries sent from a database outbox."""
