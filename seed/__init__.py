"""Demo data and its loader (``regdesk demo``)."""
