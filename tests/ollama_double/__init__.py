"""A stdlib-only test double of Ollama's REST API, its `ollama` CLI, and a helper for tests.

Run it: ``PYTHONPATH=tests python3 -m ollama_double serve``. See README.md in this directory.
"""

from .state import VERSION

__all__ = ["VERSION"]
