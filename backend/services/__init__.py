"""Business rules. Each module takes an open SQLAlchemy session and never commits it."""
