"""Statistics, execution metrics, reports and plots derived from a `State`."""
