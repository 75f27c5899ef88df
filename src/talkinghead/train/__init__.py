"""Training code (never imported by inference)."""
