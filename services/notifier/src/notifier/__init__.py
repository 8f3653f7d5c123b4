"""Completion messages to subscribers; built in issue 4."""
