"""Sahayak backend: configuration, database, domain services and HTTP API."""
