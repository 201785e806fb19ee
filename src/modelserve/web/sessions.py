"""Cookie sessions for the pages only: the JSON APIs never read one, so they skip the cost."""

from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface

from modelserve.web.errors import JSON_PREFIXES


class PagesOnlySessionInterface(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if request.path.startswith(JSON_PREFIXES):
            return self.null_session_class()
        return super().open_session(app, request)
