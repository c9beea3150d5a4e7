"""Where data is stored: the audit trail and once-only records."""
