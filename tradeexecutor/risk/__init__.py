"""The risk engine between strategies and venues: limits on what intents may do."""
