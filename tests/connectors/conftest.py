"""Fixtures shared by the channels' tests."""
import pytest

from backend.db import migrate, reset_engine


@pytest.fixture
def database_url(tmp_path):
    """A migrated SQLite database of the test's own."""
    url = f"sqlite:///{tmp_path / 'sahayak.db'}"
    migrate(url)
    yield url
    reset_engine(url)
