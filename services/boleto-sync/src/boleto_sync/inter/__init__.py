"""Banco Inter API Cobrança v3: OAuth2 client credentials, mTLS, typed errors, global limits."""
