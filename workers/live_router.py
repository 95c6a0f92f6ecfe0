"""Hot reload: the compiled router of a running process, swapped atomically when settings.toml changes.

A worker asks `live.current()` for the router at the start of each job. `reload()` compiles the new file completely
before it touches anything, then publishes it with ONE reference assignment (atomic under the GIL), so a job sees
either the old rules or the new ones, never a mix. An invalid file leaves the running rules in place and logs every
problem with its key and line. Triggers: a change of the file (watchfiles, in a daemon thread; the directory is
watched, because editors save by renaming a new file over the old one) or SIGHUP. Each process runs its own
LiveRouter, so every process swaps on its own.

The triage model (workers/triage.py) lives in the store, not in the file: `watch_model()` polls the store's current
version every `router.triage.reload_seconds` (one GET), and `reload_model()` swaps a new version in the same way —
validated and compiled with the running rules first, published with one assignment — or keeps the running model and
logs why when the new one is invalid (a refused version is not retried until the current pointer changes again).
A rules reload keeps the running model.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import watchfiles
from sqlalchemy import Engine

from core.errors import SettingsError, StoreUnavailable
from core.model_store import ModelStore
from core.settings import Settings, load_settings, settings_path
from core.store import Store
from router.engine import Router, compile_router
from router.text_model import InvalidModel, TextModel
from workers.triage import compile_with_model, current_model, stored_model

log = logging.getLogger("helpline.router")


class LiveRouter:
    def __init__(self, path: Path | str, router: Router, store: Store | None = None) -> None:
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
        self.store = store
        self._model_version = router.model.version if router.model is not None else None
        self._refused_version: str | None = None
        self._model_thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        path: Path | str | None = None,
        store: Store | None = None,
        record: Engine | None = None,
    ) -> LiveRouter:
        """Start from settings `load_settings` returned (so already validated); `path` (default: $HELPLINE_SETTINGS
        or ./settings.toml) is watched. With a `store`, routing uses its current triage model (or, when the store
        has none, the `record`'s active one)."""
        model = current_model(store, settings.router, record) if store is not None else None
        return cls(settings_path(path), compile_with_model(settings.router, model), store)

    @classmethod
    def from_file(cls, path: Path | str, store: Store | None = None, record: Engine | None = None) -> LiveRouter:
        settings = load_settings(path)
        model = current_model(store, settings.router, record) if store is not None else None
        return cls(path, compile_with_model(settings.router, model), store)

    def current(self) -> Router:
        return self._router

    def reload(self) -> bool:
        """Load and compile the file; swap on success. False (old rules kept, problems logged) on any problem."""
        with self._reload_lock:
            self._last_read = self._content()
            try:
                # load_settings refuses the router's semantic problems too, each with its line.
                router = compile_router(load_settings(self.path).router, validated=True, model=self._router.model)
            except SettingsError as exc:
                self._refuse([str(problem) for problem in exc.problems])
                return False
            except InvalidModel as exc:  # the new settings dropped a category the running model proposes
                self._refuse([f"{exc}: retrain with `helpline train` after changing the categories"])
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

    def reload_model(self) -> bool:
        """Swap in the store's current triage model if it changed; False when unchanged, refused or unreachable."""
        if self.store is None:
            return False
        with self._reload_lock:
            try:
                version = ModelStore(self.store).current_version()
                if version is None or version in (self._model_version, self._refused_version):
                    return False
                model = stored_model(self.store, version)
                router = compile_router(self._router.settings, validated=True, model=model)
            except StoreUnavailable as exc:
                log.warning("cannot check for a new triage model: %s", exc)
                return False
            except InvalidModel as exc:
                self._refused_version = version
                self.last_problems = [str(exc)]
                log.error("triage model %s is invalid; keeping model %s: %s", version, self._model_version, exc)
                return False
            self._router = router
            self._model_version = version
            self.generation += 1
            self.last_problems = []
            log.info("triage model %s loaded: %d features", version, len(model.vocabulary))
            return True

    @property
    def model(self) -> TextModel | None:
        return self._router.model

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
        # rules are reloaded only when what the path reads now differs from what they were last loaded from. The
        # file is also read on every quiet half second (`yield_on_timeout`): a change made while the watcher was
        # still being set up, or an event the OS dropped, is then picked up within that, not never.
        try:
            for _changes in watchfiles.watch(
                # The link's folder (a repoint) and, when the path is a link, its target's (an edit in place).
                *sorted({self.path.parent, self.path.resolve().parent}),
                stop_event=self._stop,
                debounce=debounce_ms,
                rust_timeout=500,
                yield_on_timeout=True,
                recursive=False,
            ):
                content = self._content()
                if content is None or content == self._last_read:  # None: mid rename-over-save
                    continue
                # A save that writes the file in place (truncate, then write) can be read half-written, and half a
                # settings file may parse (an empty one does): reload only what reads the same a moment later.
                if not self._stop.wait(debounce_ms / 1000) and self._content() == content:
                    self.reload()
        except Exception:  # the watcher must never take the worker down; SIGHUP still works
            log.exception("watching %s for routing changes stopped", self.path)

    def _content(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except OSError:
            return None

    def watch_model(self, interval: float | None = None) -> threading.Thread | None:
        """Poll the store for a new model version from a daemon thread (None without a store)."""
        if self.store is None:
            return None
        if self._model_thread is not None and self._model_thread.is_alive():
            return self._model_thread
        every = interval if interval is not None else self._router.settings.triage.reload_seconds
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.reload_model()
                except Exception:  # never take the worker down; the next poll tries again
                    log.exception("checking for a new triage model failed")

        self._model_thread = threading.Thread(target=loop, name="helpline-model-watch", daemon=True)
        self._model_thread.start()
        return self._model_thread

    def install_sighup(self) -> None:
        """Reload on SIGHUP (call from the main thread). The reload runs in a thread, not inside the handler."""

        def on_sighup(_signum: int, _frame: FrameType | None) -> None:
            def both() -> None:
                self.reload()
                self.reload_model()

            threading.Thread(target=both, name="helpline-router-sighup", daemon=True).start()

        self._previous_sighup = signal.signal(signal.SIGHUP, on_sighup)

    def stop(self) -> None:
        """Stop watching and give SIGHUP back to whoever had it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._model_thread is not None:
            self._model_thread.join(timeout=5)
            self._model_thread = None
        if self._previous_sighup is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)
            self._previous_sighup = None
