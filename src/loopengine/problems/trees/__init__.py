"""Trees whose independence sequence is not log-concave (a rare-event search problem)."""
