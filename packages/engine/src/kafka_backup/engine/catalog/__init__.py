"""What is stored: list, describe, prune, validate, and the completeness verdict they share."""
