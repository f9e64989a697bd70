"""``digitnet serve``: a web page to draw or photograph digits and watch them read, and its
JSON API (:func:`create_app`). Needs ``pip install "digitnet[serve]"``."""

from digitnet.apps.serve.app import create_app

__all__ = ["create_app"]
