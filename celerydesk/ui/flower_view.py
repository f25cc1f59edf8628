"""The embedded Flower tab: the workspace's Flower in a QtWebEngine view, or why it is not there.

A QStackedWidget holds a placeholder (Flower stopped, starting, failed, disabled, or its page
did not load, each with the action that helps) and the web page. QtWebEngine is imported and
its view built only on the first ``showEvent`` while Flower runs: a window whose Flower tab is
never opened pays nothing for Chromium (importing QtWebEngine and starting its context and
helper processes costs a few hundred milliseconds and ~100 MB on this machine).

Credentials: Flower runs with generated basic auth. An Authorization header is added by a URL
request interceptor on a private off-the-record profile, to requests for Flower's own origin
(``http://127.0.0.1:PORT``) only. ``authenticationRequired`` alone is not enough: Chromium
routes only navigations to it; an XHR/fetch answered 401 (Flower's dashboard polls
``/workers?json=1`` and its buttons call ``/api/...``) goes straight back to the script unless
Chromium happens to hold cached credentials for that path. The header is on every request, so
no 401 round trip, nothing cached, nothing written to disk.

``prepare_webengine()`` (in ``webengine_setup``) must run before the QApplication
exists (``create_application`` calls it).
"""

from __future__ import annotations

import base64
import functools
import logging
import time
from typing import Callable, Optional

from PySide6.QtCore import QCoreApplication, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMenu, QPushButton, QStackedWidget,
                               QToolButton, QVBoxLayout, QWidget)

from celerydesk.core.commands import FLOWER
from celerydesk.core.states import BUSY_PHASES, STARTABLE_STATES, ProcessState, StackPhase
from celerydesk.ui import defs

PLACEHOLDER, PAGE = 0, 1
log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=None)
def _web():
    """Import QtWebEngine and define the classes that derive from it, on first use only."""
    from types import SimpleNamespace

    from PySide6.QtWebEngineCore import (QWebEngineLoadingInfo, QWebEnginePage, QWebEngineProfile,
                                         QWebEngineUrlRequestInterceptor)
    from PySide6.QtWebEngineWidgets import QWebEngineView

    class BasicAuthInterceptor(QWebEngineUrlRequestInterceptor):
        """Adds Flower's Authorization header to requests for Flower's origin, and no other."""

        def __init__(self, is_flower: Callable[[QUrl], bool], header: bytes, parent=None):
            super().__init__(parent)
            self._is_flower = is_flower
            self._header = header

        def interceptRequest(self, info) -> None:  # Qt 6 calls it on the GUI thread
            if self._is_flower(info.requestUrl()):
                info.setHttpHeader(b"Authorization", self._header)

    class FlowerPage(QWebEnginePage):
        """Keeps the tab on Flower: links to other sites open in the user's browser."""

        def __init__(self, profile, is_flower: Callable[[QUrl], bool],
                     open_external: Callable[[QUrl], object], parent=None):
            super().__init__(profile, parent)
            self._is_flower = is_flower
            self._open_external = open_external

        def acceptNavigationRequest(self, url: QUrl, nav_type, is_main_frame: bool) -> bool:
            if is_main_frame and url.scheme() in ("http", "https") and not self._is_flower(url):
                self._open_external(url)
                return False
            return True

    return SimpleNamespace(LoadStatus=QWebEngineLoadingInfo.LoadStatus,
                           ErrorDomain=QWebEngineLoadingInfo.ErrorDomain,
                           Profile=QWebEngineProfile, View=QWebEngineView,
                           Interceptor=BasicAuthInterceptor, Page=FlowerPage)


class QtFlowerView(QWidget):
    """Flower's dashboard for one stack, or a placeholder saying why not and what to do."""

    pageLoaded = Signal(bool)  # after every main-frame load of the embedded page: did it load?

    def __init__(self, stack, parent=None, *, open_url: Callable[[QUrl], object] = QDesktopServices.openUrl):
        super().__init__(parent)
        self.stack = stack
        self._open_url = open_url  # a constructor argument, so tests need not open a browser
        self._web_view = None
        self._profile = None
        self._interceptor = None
        self._load_error = ""  # why the last load failed, while Flower runs
        self._loading = False  # our own load is in flight: the placeholder says so
        self._credentials_refused = False
        self._unavailable = ""  # QtWebEngine could not be used at all
        self.creation_seconds: Optional[float] = None  # QtWebEngine import + profile + view

        self.address = QLabel(self)
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reload_button = QPushButton("Reload", self, clicked=self.reload)
        self.open_button = QPushButton("Open in browser", self, clicked=self.open_in_browser,
                                       toolTip="Your browser asks for the user name and password: "
                                               "copy them with Copy credentials")
        self.copy_button = QToolButton(self, text="Copy credentials",
                                       toolTip="Copy Flower's password (the user name is in the menu)")
        self.copy_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.copy_button.clicked.connect(lambda: self.copy_credentials("password"))
        menu = QMenu(self.copy_button)
        menu.addAction("Copy password", lambda: self.copy_credentials("password"))
        menu.addAction("Copy user name", lambda: self.copy_credentials("user"))
        menu.addAction("Copy user:password (curl -u)", lambda: self.copy_credentials("both"))
        self.copy_button.setMenu(menu)
        bar = QHBoxLayout()
        bar.setContentsMargins(defs.MARGIN, defs.SMALL, defs.MARGIN, defs.SMALL)
        bar.setSpacing(defs.SPACING)
        bar.addWidget(self.address, 1)
        for button in (self.reload_button, self.open_button, self.copy_button):
            bar.addWidget(button)

        # Created before the profile, so it is deleted before it: Chromium wants every page
        # gone before its profile ("Release of profile requested but WebEnginePage still not
        # deleted"), and children are deleted in the order they were added.
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self._build_placeholder())
        self._page_holder = QWidget(self.pages)
        self._page_layout = QVBoxLayout(self._page_holder)
        self._page_layout.setContentsMargins(0, 0, 0, 0)
        self.pages.addWidget(self._page_holder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.pages, 1)

        # Bound methods: the connections go away with this widget (lambdas would outlive it).
        stack.serviceStateChanged.connect(self._on_service_state_changed)
        stack.phaseChanged.connect(self._on_phase_changed)
        QCoreApplication.instance().aboutToQuit.connect(self._release_web)
        self._refresh()

    # -- the public face ----------------------------------------------------------------------

    def url(self) -> QUrl:
        """Flower's dashboard: the address it listens on (always the loopback interface)."""
        return QUrl(f"http://127.0.0.1:{self.stack.ws.flower.port}/")

    def web_view(self):
        """The QWebEngineView, or None until the tab was first shown while Flower ran."""
        return self._web_view

    def showing_page(self) -> bool:
        return self.pages.currentIndex() == PAGE

    def placeholder_text(self) -> str:
        return f"{self.headline.text()}\n{self.detail.text()}".strip()

    def reload(self) -> None:
        """Load Flower's page again (the dashboard if the last load failed)."""
        if self._web_view is None:
            self._ensure_web_view()
            return
        self._load(self.url() if self._load_error else self._current_or_home())

    def open_in_browser(self) -> None:
        self._open_url(self.url())

    def copy_credentials(self, what: str = "password") -> None:
        """Put Flower's password, user name, or ``user:password`` on the clipboard."""
        user, password = self.stack.flower_credentials()
        text = {"user": user, "password": password, "both": f"{user}:{password}"}[what]
        QGuiApplication.clipboard().setText(text)
        said = {"user": f"user name {user!r}", "password": f"password (user {user!r})",
                "both": "user:password"}[what]
        self.address.setText(f"{self.url().toString()} · copied the {said}")

    # -- the stack's signals --------------------------------------------------------------------

    def _on_service_state_changed(self, key: str, state: ProcessState) -> None:
        if key != FLOWER:
            return
        if state == ProcessState.RUNNING:
            # Each RUNNING is a new Flower process (the signal fires on transitions only):
            # the page it serves now is a new one, so load it again.
            self._load_error = ""
            if self._web_view is not None:
                self._load(self._current_or_home())
            else:
                self._ensure_web_view()
        else:
            self._load_error = ""
            self._loading = False
        self._refresh()

    def _on_phase_changed(self, _phase: StackPhase) -> None:
        self._refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._ensure_web_view()

    # -- the web page ---------------------------------------------------------------------------

    def _flower_running(self) -> bool:
        return self.stack.ws.flower.enabled and self.stack.state(FLOWER) == ProcessState.RUNNING

    def _is_flower(self, url: QUrl) -> bool:
        # Exactly Flower's origin: the header must never reach another host, port or scheme.
        return (url.scheme() == "http" and url.host() == "127.0.0.1"
                and url.port(80) == self.stack.ws.flower.port)

    def _ensure_web_view(self) -> None:
        """Build the web view the first time it is both visible and useful."""
        if self._web_view is not None or self._unavailable or not self.isVisible() \
                or not self._flower_running():
            return
        started = time.perf_counter()
        try:
            web = _web()
        except ImportError as exc:  # a build without QtWebEngine: the browser still works
            self._unavailable = f"The embedded view is unavailable ({exc}); use Open in browser."
            self._refresh()
            return
        user, password = self.stack.flower_credentials()
        header = b"Basic " + base64.b64encode(f"{user}:{password}".encode())
        # No storage name: an off-the-record profile, so cookies, cache and the credentials
        # it sees stay in memory and die with it.
        self._profile = web.Profile(self)
        self._interceptor = web.Interceptor(self._is_flower, header, self._profile)
        self._profile.setUrlRequestInterceptor(self._interceptor)
        view = web.View(self._page_holder)
        page = web.Page(self._profile, self._is_flower, self._open_url, view)
        page.loadingChanged.connect(self._on_loading_changed)
        page.authenticationRequired.connect(self._on_authentication_required)
        view.setPage(page)
        self._page_layout.addWidget(view)
        self._web_view = view
        self.creation_seconds = time.perf_counter() - started
        self._load(self.url())

    def _release_web(self) -> None:
        """Delete the page before QtWebEngine shuts down with the application.

        A window still alive when the QApplication goes would outlive the web engine, which
        deletes the profiles first ("Release of profile requested but WebEnginePage still not
        deleted").
        """
        if self._web_view is not None:
            import shiboken6

            view, self._web_view = self._web_view, None
            shiboken6.delete(view)  # its page is its child: both go now, the profile after
        self._unavailable = "celerydesk is quitting."
        self._refresh()

    def _current_or_home(self) -> QUrl:
        """Where the user was in Flower (kept across restarts), else the dashboard."""
        url = self._web_view.url()
        return url if self._is_flower(url) else self.url()

    def _load(self, url: QUrl) -> None:
        self._loading = True
        self._load_error = ""
        self._credentials_refused = False
        self._refresh()
        self._web_view.load(url)

    def _on_authentication_required(self, url: QUrl, authenticator) -> None:
        # The header was sent and refused (a Flower not started by this stack?).
        # Left unfilled, the authenticator makes Chromium give up and the load fail, which
        # the placeholder then explains; credentials never go to any other site.
        if self._is_flower(url):
            self._credentials_refused = True

    def _on_loading_changed(self, info) -> None:
        web = _web()
        status = info.status()
        if status == web.LoadStatus.LoadSucceededStatus:
            self._loading = False
            self._load_error = ""
            log.info("flower tab: loaded %s", info.url().toString())
            self._refresh()
            self.pageLoaded.emit(True)
        elif status == web.LoadStatus.LoadFailedStatus:
            self._loading = False
            self._load_error = self._describe_failure(info)
            log.warning("flower tab: %s", self._load_error)
            self._refresh()
            self.pageLoaded.emit(False)
        elif status == web.LoadStatus.LoadStoppedStatus:
            self._loading = False  # replaced by a newer load, or stopped: not an error
            self._refresh()

    def _describe_failure(self, info) -> str:
        url = info.url().toString()
        if self._credentials_refused:
            # The view sends exactly what the stack started Flower with, so this is another Flower.
            return (f"The Flower at {url} refused the credentials this stack started Flower with: "
                    f"is another Flower answering on that port? Stop it and start Flower again.")
        if info.errorDomain() == _web().ErrorDomain.HttpStatusCodeDomain:
            return f"Flower answered HTTP {info.errorCode()} for {url}."
        return f"{info.errorString() or 'the page did not load'} ({url})."

    # -- the placeholder ------------------------------------------------------------------------

    def _build_placeholder(self) -> QWidget:
        page = QWidget()
        self.headline = QLabel(page, alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.headline.setFont(font)
        self.detail = QLabel(page, alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.start_button = QPushButton("Start Flower", page, clicked=self._start_flower)
        self.retry_button = QPushButton("Try again", page, clicked=self.reload)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.retry_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(defs.MARGIN * 4, defs.MARGIN, defs.MARGIN * 4, defs.MARGIN)
        layout.setSpacing(defs.SPACING * 2)
        layout.addStretch(1)
        layout.addWidget(self.headline)
        layout.addWidget(self.detail)
        layout.addLayout(buttons)
        layout.addStretch(2)
        return page

    def _start_flower(self) -> None:
        self.start_button.setEnabled(False)  # until the stack says what happened
        self.stack.start_service(FLOWER)

    def _placeholder_words(self) -> tuple[str, str, str]:
        """Headline, detail, and which button helps: "start", "retry" or ""."""
        ws = self.stack.ws
        if not ws.flower.enabled:
            return ("Flower is disabled in this workspace.",
                    f"Set enabled = true under [flower] in {ws.path} to watch workers and tasks here.", "")
        state = self.stack.state(FLOWER)
        message = self.stack.services[FLOWER].supervision.message if FLOWER in self.stack.services else ""
        if state == ProcessState.RUNNING:
            if self._unavailable:
                return "Flower is running.", self._unavailable, ""
            if self._load_error:
                return "Flower's page did not load.", self._load_error, "retry"
            return "Loading Flower…", self.url().toString(), ""
        if state == ProcessState.STOPPED and self.stack.phase in BUSY_PHASES:
            return "The stack is busy.", "Flower follows when the broker answers.", ""
        if state == ProcessState.STARTING:
            return "Flower is starting…", "", ""
        if state == ProcessState.BACKOFF:
            return "Flower is starting again…", f"The last start failed: {message}", "start"
        if state == ProcessState.STOPPING:
            return "Flower is stopping…", "", ""
        if state == ProcessState.FATAL:
            return ("Flower failed to start.",
                    f"{message}. Its log: {self.stack.runtime.log_path(FLOWER)}", "start")
        if state == ProcessState.EXITED:
            return "Flower exited.", message, "start"
        return "Flower is not running.", "Start it to watch workers and tasks here.", "start"

    def _refresh(self) -> None:
        """Bring every label, button and the current page in line with the state."""
        running = self._flower_running()
        show_page = running and self._web_view is not None and not self._loading and not self._load_error
        if not show_page:
            headline, detail, action = self._placeholder_words()
            self.headline.setText(headline)
            self.detail.setText(detail)
            self.start_button.setVisible(action == "start")
            # Not while the stack preflights or stops: start_service would bypass its order.
            self.start_button.setEnabled(
                action == "start" and self.stack.state(FLOWER) in STARTABLE_STATES
                and self.stack.phase not in (StackPhase.PREFLIGHT, StackPhase.STOPPING))
            self.retry_button.setVisible(action == "retry")
        self.pages.setCurrentIndex(PAGE if show_page else PLACEHOLDER)
        self.reload_button.setEnabled(running and not self._unavailable)
        self.open_button.setEnabled(running)
        self.copy_button.setEnabled(self.stack.ws.flower.enabled)
        if not self.address.text().startswith(self.url().toString()) or not running:
            self.address.setText(self.url().toString() if self.stack.ws.flower.enabled else "")
