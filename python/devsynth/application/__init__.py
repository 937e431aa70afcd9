"""Application layer: providers, token utilities and the offline model."""
