"""What a backup looks like on storage: segment files, manifests, restore state."""
