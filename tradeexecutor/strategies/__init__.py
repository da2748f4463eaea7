"""Bundled example strategies; `trade-executor strategies --copy NAME` copies one out."""
