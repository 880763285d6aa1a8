"""Ingestion: source bundles -> decode -> one transaction per batch -> publish after commit."""
