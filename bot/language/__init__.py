"""Language identification, preference resolution and language-name recognition."""
