"""Completion messages to subscribers: signed webhooks, a live SSE stream, optional e-mail."""
