"""Serving: ``create_app(predictor)`` builds the FastAPI app behind ``dermkit serve`` (REST API + one web page)."""

from dermkit.serve.app import create_app

__all__ = ["create_app"]
