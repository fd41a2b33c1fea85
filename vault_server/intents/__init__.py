"""Gesture ingest (batched, idempotent), declared intents, and the consumer's own view, export and deletion."""
