"""Rasa input channels and outbound senders."""
