"""The triage model at run time: which model routes, and the desk's history as training examples (agents'
corrections are made in desk/recategorize.py).

Which model: the store's current version (`helpline train` publishes it, core/model_store.py); while the store has
none, the record's active version (record/triage_models.py: Redis was emptied or lost, the record was not), which
is announced in the store again for every worker's hot reload; while neither has one, the default model shipped
in the package (router/triage_data/default_model.npz, trained on the shipped data alone);
with `router.triage.enabled = false`, none (keyword scores). A stored model that fails validation is logged and the
shipped one used instead of routing on garbage.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from core.corrections import Corrections
from core.errors import StoreUnavailable
from core.inbox import Inbox
from core.model_store import ModelStore
from core.records import StoredMessage
from core.routing_settings import RouterSettings
from core.store import Store
from record.messages import load_messages
from record.triage_models import active_model
from router.engine import Router, compile_router
from router.text_model import InvalidModel, TextModel
from router.training_data import Example, data_root

log = logging.getLogger("helpline.triage")
SHIPPED_MODEL = "default_model.npz"


def shipped_model() -> TextModel | None:
    try:
        return TextModel.from_bytes(data_root().joinpath(SHIPPED_MODEL).read_bytes())
    except (OSError, InvalidModel) as exc:
        log.error("the shipped triage model is unusable (%s): routing by keywords until `helpline train`", exc)
        return None


def stored_model(store: Store, version: str) -> TextModel:
    """Stored model `version`, validated; `InvalidModel` when missing or unusable."""
    blob = ModelStore(store).get(version)
    if blob is None:
        raise InvalidModel(f"the store has no model {version!r}")
    return TextModel.from_bytes(blob)


def current_model(store: Store, settings: RouterSettings, record: Engine | None = None) -> TextModel | None:
    """The model workers route with now (module docstring)."""
    if not settings.triage.enabled:
        return None
    try:
        version = ModelStore(store).current_version()
    except StoreUnavailable as exc:  # start anyway; the model watcher picks the store's model up once it answers
        log.warning("cannot read the current triage model (%s); using the shipped model", exc)
        return shipped_model()
    if version is not None:
        try:
            return stored_model(store, version)
        except InvalidModel as exc:
            log.error("stored triage model %s is invalid (%s); using the shipped model", version, exc)
            return shipped_model()
    recorded = recorded_model(store, record) if record is not None else None
    return recorded or shipped_model()


def recorded_model(store: Store, record: Engine) -> TextModel | None:
    """The record's active model, announced in the store again; None when the record has none (or cannot say)."""
    try:
        with record.connect() as connection:
            found = active_model(connection)
    except SQLAlchemyError as exc:
        log.warning("cannot read the record's triage model (%s); using the shipped model", exc)
        return None
    if found is None:
        return None
    version, blob = found
    try:
        model = TextModel.from_bytes(blob)
    except InvalidModel as exc:
        log.error("the record's triage model %s is invalid (%s); using the shipped model", version, exc)
        return None
    try:
        current = ModelStore(store).restore(version, blob)
    except StoreUnavailable as exc:
        log.warning("cannot announce triage model %s in the store (%s)", version, exc)
        return model
    log.info("triage model %s restored from the record (the store had none)", version)
    if current != version:  # published by `helpline train` meanwhile: the model watcher switches to it
        log.info("the store's current triage model is now %s", current)
    return model


def compile_with_model(settings: RouterSettings, model: TextModel | None) -> Router:
    """The router for validated `settings` with `model`; by keywords alone (logged) when the model does not fit the
    settings' categories, so a worker still starts."""
    try:
        return compile_router(settings, validated=True, model=model)
    except InvalidModel as exc:
        log.error("%s; routing by keywords until `helpline train`", exc)
        return compile_router(settings, validated=True)


# ---- the desk's history ------------------------------------------------------------------------------------------


def desk_history(store: Store, settings: RouterSettings, record: Engine | None = None) -> list[Example]:
    """Agents' corrections (weight `correction_weight`) and messages resolved without one (`confirmed_weight`),
    for categories the settings still have. The text is the stored one, masked at intake; a message whose hot copy
    expired is read from `record`."""
    triage = settings.triage
    corrected = {c.message_id: c for c in Corrections(store).all()}
    out: list[Example] = []
    message_ids = store.message_ids()
    messages = load_messages(store, record, message_ids)
    for message_id in message_ids:
        message = messages.get(message_id)
        if message is None or message.decision is None:
            continue
        correction = corrected.get(message_id)
        if correction is not None:
            category, source, weight = correction.to_category, "correction", triage.correction_weight
        elif triage.confirmed_weight > 0 and _resolved(store, message):
            category, source, weight = message.decision.category, "confirmed", triage.confirmed_weight
        else:
            continue
        if category not in settings.categories:
            continue
        envelope = message.envelope
        body = f"{envelope.subject}\n{envelope.text}" if envelope.subject else envelope.text
        language = "zh" if envelope.language.lower().startswith("zh") else "en"
        out.append(Example(body, category, language, source, weight))
    return out


def _resolved(store: Store, message: StoredMessage) -> bool:
    """The message's case was resolved (an agent confirmed its category by closing it without a correction)."""
    return bool(message.conversation_id) and Inbox(store).times(message.conversation_id or "").resolved_at is not None
