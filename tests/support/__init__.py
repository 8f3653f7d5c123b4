"""Helpers the tests share: servers they start and stop themselves."""
