"""The central store: events, device state and quarantined messages (SQLite or PostgreSQL)."""

from broker.store.store import BatchResult, Store, normalise_url, open_store

__all__ = ["BatchResult", "Store", "normalise_url", "open_store"]
