"""Settings, logging, telemetry, messaging, events, storage, persistence and auth."""
