"""Access control beyond the role gates: identifiers on file, break-glass access."""
