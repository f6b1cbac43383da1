"""avatar.nodes."""
