"""Restore drills: prove a backup restores by restoring it into scratch topics and reading it back."""
