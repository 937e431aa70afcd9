"""LLM providers (OpenAI, Anthropic, LM Studio, Offline) and what they share.

Nothing is imported here: each provider module, and httpx behind it, loads on first use.
"""
