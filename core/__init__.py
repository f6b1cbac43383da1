"""avatar.core."""
