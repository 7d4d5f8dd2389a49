"""The control plane: REST API with OpenAPI docs and API-key auth (FastAPI)."""
