"""Adapter layer: connects the application to LLM backends."""
