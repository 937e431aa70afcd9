"""LLM backend adapter and provider registry."""
