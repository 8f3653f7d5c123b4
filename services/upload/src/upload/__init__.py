"""Public HTTP API for conversions."""
