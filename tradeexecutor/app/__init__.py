"""Session wiring: open the store, load data and strategy, build venues, run, close."""
