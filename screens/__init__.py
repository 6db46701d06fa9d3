"""Textual screens, dialogs and widgets. They call services via ``self.app.call`` from thread workers."""
