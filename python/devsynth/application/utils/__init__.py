"""Utilities for the application layer."""
