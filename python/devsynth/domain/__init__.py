"""Domain layer: interfaces, value types and the error hierarchy. Imports nothing of ours."""
