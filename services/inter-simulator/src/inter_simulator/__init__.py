"""Banco Inter "API Cobrança v3" simulator: development, tests and benchmarks only."""
