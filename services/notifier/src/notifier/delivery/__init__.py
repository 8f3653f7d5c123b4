"""The delivery engine: sends each recorded delivery, retries it on schedule, settles it.

``dispatcher`` leases and attempts deliveries within concurrency bounds; ``senders`` makes one
attempt per channel (a signed webhook POST through ``transport``, or an e-mail through
``mail``); ``schedule`` says when a failed attempt is tried again; ``receivers`` caches each
subscription and disables an endpoint that keeps failing; ``signing`` holds the Standard
Webhooks signatures.
"""
