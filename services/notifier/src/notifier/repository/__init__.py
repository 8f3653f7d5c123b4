"""All MongoDB access of the notifier, one module per collection.

``subscriptions``: ``webhook_subscriptions``, webhooks and each tenant's e-mail settings
(channel ``email``), with the outbox of the events their changes imply. ``deliveries``:
``webhook_deliveries``, one document per (event, subscription) with its schedule and lease.
``replay``: ``notifier_replay``, every tenant's recent events for ``Last-Event-ID`` resume.
"""
