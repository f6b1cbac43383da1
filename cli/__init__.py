"""avatar.cli."""
