"""The Offline provider's local runtime: models on ONNX Runtime and deterministic fallbacks.

Each module answers one question; none imports onnxruntime, tokenizers or numpy at import
time (they come with ``pip install "devsynth-llm[offline]"``):

- :mod:`.dependencies`: the optional extra, imported on demand with a clear error
- :mod:`.model_dir`: is this directory a usable model, and what do its JSON files say
- :mod:`.decoder_io`: which inputs and outputs a decoder's ONNX graph has (the KV cache)
- :mod:`.settings`: generation settings (temperature, top_p, top_k, seed, stop, max_tokens)
- :mod:`.sampling`: the next token from logits (greedy or seeded sampling)
- :mod:`.generation`: the decoder loop on token ids (batches, left padding, KV cache)
- :mod:`.text_stream`: token ids to text chunks (whole UTF-8 characters, stop strings)
- :mod:`.language_model`: a decoder directory as text in, text out
- :mod:`.chat_template`: chat messages to one prompt string
- :mod:`.embeddings`: sentence embeddings from an ONNX encoder
- :mod:`.deterministic`: text without any model, identical in every process
"""
