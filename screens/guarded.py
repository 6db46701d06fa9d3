"""Actions that open a dialog ask first whether they can apply to the record (a mixin of the areas).

A form opened on a record whose state refuses it (the Resolution dialog on a Rejected case) only
said so after it was filled. ``when_possible`` asks before it opens: the record's detail as read
carries the actions its service allows (``detail.actions``); an action not among them, or a
detail still loading, is put to the area's service (``refusal``: one indexed read) and either
opens the dialog on the fresh detail or says why at once, in one notice. The rules stay in the
services; a screen only names its action and the service call that answers.
"""

from __future__ import annotations

from typing import Any, Callable

from textual import work

OpenDialog = Callable[[str, Any], None]


class GuardedActions:
    """Mixin for a ``BrowserScreen`` area: ``when_possible(action, open_dialog)``."""

    def refusal(self, key: str, action: str) -> str | None:
        """Why ``action`` cannot apply to record ``key`` now, asked of the area's service in a worker
        thread (``self.app.call(service.refusal, ...)``); None: nothing stands against it."""
        return None

    def allows(self, detail: Any, action: str) -> bool:
        """The detail as read allows ``action`` (its service listed it)."""
        return action in getattr(detail, "actions", ())

    def when_possible(self, action: str, open_dialog: OpenDialog) -> None:
        """``open_dialog(key, detail)`` for the record under the cursor at key time when ``action`` can
        apply to it; else one notice saying why, and no dialog."""
        screen: Any = self
        key = screen.target()
        if key is None:
            return
        detail = screen.target_detail(key)
        if detail is not None and self.allows(detail, action):
            open_dialog(key, detail)
            return
        screen.app.hold_keys()  # what is typed until the dialog opens belongs in it, not in the list
        self._ask_then_open(key, action, open_dialog)

    @work(thread=True, group="guarded.ask", exit_on_error=False)
    def _ask_then_open(self, key: str, action: str, open_dialog: OpenDialog) -> None:
        screen: Any = self
        try:
            reason = self.refusal(key, action)
            detail = screen.fetch_detail(key) if reason is None else None
        except Exception:
            screen.app.call_from_thread(screen.app.release_held_keys)
            raise  # the worker's error becomes the one notice (ReportsWorkerErrors)
        if reason is not None or detail is None:
            screen.app.call_from_thread(self._refused, key, reason or f"{key} is gone")
        else:
            screen.app.call_from_thread(open_dialog, key, detail)

    def _refused(self, key: str, reason: str) -> None:
        screen: Any = self
        screen.app.release_held_keys()
        screen.notify(reason, title="Not possible", severity="warning", markup=False, timeout=8)
