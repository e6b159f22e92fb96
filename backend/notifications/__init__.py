"""Proactive notifications: the durable outbox, the sender interface and the delivery worker."""
