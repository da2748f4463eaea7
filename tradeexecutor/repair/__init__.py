"""Diagnosing and repairing damaged logs and stuck state; every change is an event or a backup."""
