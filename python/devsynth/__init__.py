"""devsynth-llm: DevSynth's LLM integration layer.

Providers (OpenAI, Anthropic, LM Studio, Offline) behind one adapter, and exact, fast token
counting from a Rust core. Submodules load on first use, so ``import devsynth`` stays cheap:

- :mod:`devsynth.tokens`: tiktoken-compatible encodings (``get_encoding``, ``encoding_for_model``)
- :mod:`devsynth.application.utils.token_tracker`: ``TokenTracker``
- :mod:`devsynth.adapters.llm.llm_adapter`: ``LLMBackendAdapter``, ``LLMProviderConfig``
- :mod:`devsynth.errors`: every exception
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
