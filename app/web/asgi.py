"""The app factory uvicorn imports in each worker (``regdesk serve``): settings from the environment."""

from __future__ import annotations

import logging


def create_from_env():
    import os

    from app.settings import resolve
    from app.web.app import create_app
    from app.web.config import WebConfig
    from app.web.security import ScrubTokens
    from services.store import Store

    logging.getLogger("uvicorn.access").addFilter(ScrubTokens())
    access = logging.getLogger("regdesk.web.access")
    if os.environ.get("REGDESK_WEB_ACCESS_LOG", "1") == "1" and not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
    settings = resolve()
    from app.settings import may_create

    app = create_app(Store(settings.database_url, create=may_create(settings.database_url)), WebConfig.from_env())
    from app.heap import freeze_startup_heap

    freeze_startup_heap()  # the worker's modules and app: out of every later full collection (app.heap)
    return app
