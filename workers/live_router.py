"""Hot reload: the compiled router of a running process, swapped atomically when settings.toml changes.

A worker asks `live.current()` for the router at the start of each job. `reload()` compiles the new file completely
before it touches anything, then publishes it with ONE reference assignment (atomic under the GIL), so a job sees
either the old rules or the new ones, never a mix. An invalid file leaves the running rules in place and logs every
problem with its key and line. Triggers: a change of the file (watchfiles, in a daemon thread; the directory is
watched, because editors save by renaming a new file over the old one) or SIGHUP. Each process runs its own
LiveRouter, so every process swaps on its own.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import watchfiles

from core.errors import SettingsError
from core.settings import Settings, load_settings, settings_path
from router.engine import Router, compile_router

log = logging.getLogger("helpline.router")


class LiveRouter:
    def __init__(self, path: Path | str, router: Router) -> None:
        # absolute, not resolved: a symlinked settings.toml (a release link, a Kubernetes ConfigMap) is read through
        # the link every time, so repointing the link is a change like any other.
        self.path = Path(path).absolute()
        self._router = router
        self.generation = 0  # bumped on every successful swap
        self.last_problems: list[str] = []  # why the latest reload was refused, if it was
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous_sighup: Any = None
        self._reload_lock = threading.Lock()  # a SIGHUP during a file-triggered reload waits its turn
        self._last_read = self._content()  # what the rules were last (re)loaded from, valid or not

    @classmethod
    def from_settings(cls, settings: Settings, path: Path | str | None = None) -> LiveRouter:
        """Start from settings `load_settings` returned (so already validated); `path` (default: $HELPLINE_SETTINGS
        or ./settings.toml) is watched."""
        return cls(settings_path(path), compile_router(settings.router, validated=True))

    @classmethod
    def from_file(cls, path: Path | str) -> LiveRouter:
        return cls(path, compile_router(load_settings(path).router, validated=True))

    def current(self) -> Router:
        return self._router

    def reload(self) -> bool:
        """Load and compile the file; swap on success. False (old rules kept, problems logged) on any problem."""
        with self._reload_lock:
            self._last_read = self._content()
            try:
                # load_settings refuses the router's semantic problems too, each with its line.
                router = compile_router(load_settings(self.path).router, validated=True)
            except SettingsError as exc:
                self._refuse([str(problem) for problem in exc.problems])
                return False
            self._router = router  # the swap: one reference assignment
            self.generation += 1
            self.last_problems = []
            log.info(
                "routing rules reloaded from %s: %d rules, %d keywords",
                self.path,
                router.rule_count,
                router.keyword_count,
            )
            return True

    def _refuse(self, problems: list[str]) -> None:
        self.last_problems = problems
        log.error("%s is invalid; keeping the running routing rules (%d problems)", self.path, len(problems))
        for problem in problems:
            log.error("  %s", problem)

    # ---- triggers ----------------------------------------------------------------------------------------------

    def watch(self, debounce_ms: int = 300) -> threading.Thread:
        """Reload whenever the settings file changes, from a daemon thread; returns the thread."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._watch_loop, args=(debounce_ms,), name="helpline-router-watch", daemon=True
        )
        self._thread.start()
        return self._thread

    def _watch_loop(self, debounce_ms: int) -> None:
        # Any change in the folder counts (a ConfigMap update swaps a `..data` link, not the file itself); the
        # rules are reloaded only when what the path reads now differs from what they were last loaded from.
        try:
            for _changes in watchfiles.watch(
                # The link's folder (a repoint) and, when the path is a link, its target's (an edit in place).
                *sorted({self.path.parent, self.path.resolve().parent}),
                stop_event=self._stop,
                debounce=debounce_ms,
                rust_timeout=500,
                yield_on_timeout=False,
                recursive=False,
            ):
                content = self._content()
                if content is not None and content != self._last_read:  # None: mid rename-over-save
                    self.reload()
        except Exception:  # the watcher must never take the worker down; SIGHUP still works
            log.exception("watching %s for routing changes stopped", self.path)

    def _content(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except OSError:
            return None

    def install_sighup(self) -> None:
        """Reload on SIGHUP (call from the main thread). The reload runs in a thread, not inside the handler."""

        def on_sighup(_signum: int, _frame: FrameType | None) -> None:
            threading.Thread(target=self.reload, name="helpline-router-sighup", daemon=True).start()

        self._previous_sighup = signal.signal(signal.SIGHUP, on_sighup)

    def stop(self) -> None:
        """Stop watching and give SIGHUP back to whoever had it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._previous_sighup is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)
            self._previous_sighup = None
