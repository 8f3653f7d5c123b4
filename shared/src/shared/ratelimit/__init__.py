"""Rate limits shared by every replica, kept in MongoDB: boleto-sync's GCRA reservations for
the bank's quota (``gcra``), and each API key's request rate (``requests``)."""
