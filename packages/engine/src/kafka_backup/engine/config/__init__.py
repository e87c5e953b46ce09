"""Job configuration: the backup and restore YAML files, validated by pydantic models."""
