"""The voice menu as TwiML, step by step, from `[twilio.ivr]`: language, then topic (digit or speech), then voicemail.

Each step is a pure function of the settings, the caller's input and `url`, which turns a path and query into the
absolute public URL Twilio will call back (and sign). State between steps travels in that query (`lang`, `category`,
`attempt`), so the web app keeps no call state. TwiML reference: https://www.twilio.com/docs/voice/twiml
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from twilio.twiml.voice_response import Gather, VoiceResponse

from core.twilio_settings import IvrLanguage, IvrOption, IvrSettings

UrlFor = Callable[..., str]  # url_for(path, **query) -> absolute URL

LANGUAGE_PATH = "/twilio/voice/language"
MENU_PATH = "/twilio/voice/menu"
RECORDING_PATH = "/twilio/voice/recording"
TRANSCRIPTION_PATH = "/twilio/voice/transcription"
CALL_STATUS_PATH = "/twilio/voice/status"  # set once per number in the console: "Call status changes"
MAX_ATTEMPTS = 2  # a caller who gives no usable answer twice moves on rather than loops


def welcome(ivr: IvrSettings, url_for: UrlFor, attempt: int = 1, apology: str | None = None) -> str:
    response = VoiceResponse()
    if apology:
        response.say(apology, language=ivr.languages[0].say_language if ivr.languages else None)
    elif ivr.welcome:
        response.say(ivr.welcome, language=ivr.welcome_language)
    action = url_for(LANGUAGE_PATH, attempt=attempt)
    first = ivr.languages[0] if ivr.languages else None
    hints = [word for lang in ivr.languages for word in lang.speech]
    gather = _gather(ivr, action, first.speech_language if first else None, hints)
    for lang in ivr.languages:
        gather.say(lang.choose, language=lang.say_language)
    response.append(gather)
    response.redirect(action, method="POST")  # no input: the language step decides what follows
    return str(response.to_xml())


def language_step(ivr: IvrSettings, form: Mapping[str, str], attempt: int, url_for: UrlFor) -> str:
    """The answer to the language question: the topic menu, the question again, or the first language's menu."""
    lang = choose_language(ivr, form.get("Digits", ""), form.get("SpeechResult", ""))
    if lang is None and attempt < MAX_ATTEMPTS and ivr.languages:
        return welcome(ivr, url_for, attempt + 1, apology=ivr.languages[0].not_understood)
    lang = lang or (ivr.languages[0] if ivr.languages else None)
    if lang is None:
        return voicemail(None, None, ivr, url_for)
    return menu(ivr, lang, url_for)


def menu(ivr: IvrSettings, lang: IvrLanguage, url_for: UrlFor, attempt: int = 1, apologise: bool = False) -> str:
    response = VoiceResponse()
    if not ivr.options:
        return voicemail(lang, None, ivr, url_for)
    action = url_for(MENU_PATH, lang=lang.code, attempt=attempt)
    hints = [word for option in ivr.options for word in option.speech.get(lang.code, [])]
    gather = _gather(ivr, action, lang.speech_language, hints)
    if apologise:
        gather.say(lang.not_understood, language=lang.say_language)
    gather.say(lang.menu_intro, language=lang.say_language)
    for option in ivr.options:
        gather.say(option.prompt[lang.code], language=lang.say_language)
    response.append(gather)
    response.redirect(action, method="POST")
    return str(response.to_xml())


def _gather(ivr: IvrSettings, action: str, speech_language: str | None, hints: list[str]) -> Gather:
    """One question's answer: a keypress or a few words (`hints` are the words the recogniser should expect)."""
    return Gather(
        input="dtmf speech",
        num_digits=1,
        action=action,
        method="POST",
        timeout=ivr.gather_timeout_seconds,
        speech_timeout="auto",
        language=speech_language,
        hints=", ".join(hints) or None,
    )


def menu_step(ivr: IvrSettings, lang_code: str, form: Mapping[str, str], attempt: int, url_for: UrlFor) -> str:
    """The answer to the topic question: the voicemail prompt (with or without a category) or the menu again."""
    lang = ivr.language(lang_code) or (ivr.languages[0] if ivr.languages else None)
    if lang is None:
        return voicemail(None, None, ivr, url_for)
    option = choose_option(ivr, lang.code, form.get("Digits", ""), form.get("SpeechResult", ""))
    if option is None and attempt < MAX_ATTEMPTS:
        return menu(ivr, lang, url_for, attempt + 1, apologise=True)
    return voicemail(lang, option.category if option else None, ivr, url_for)


def voicemail(lang: IvrLanguage | None, category: str | None, ivr: IvrSettings, url_for: UrlFor) -> str:
    code = lang.code if lang else "en"
    query = {"lang": code, "category": category or ""}
    response = VoiceResponse()
    if lang:
        response.say(lang.voicemail, language=lang.say_language)
    transcribe = bool(lang and lang.transcribe)
    response.record(
        action=url_for(RECORDING_PATH, **query),
        method="POST",
        max_length=ivr.max_recording_seconds,
        finish_on_key="#",
        play_beep=True,
        transcribe=transcribe,
        transcribe_callback=url_for(TRANSCRIPTION_PATH, **query) if transcribe else None,
    )
    # Reached only when nothing was recorded: Twilio skips the action URL and carries on here.
    if lang:
        response.say(lang.thanks, language=lang.say_language)
    response.hangup()
    return str(response.to_xml())


def goodbye(ivr: IvrSettings, lang_code: str) -> str:
    lang = ivr.language(lang_code)
    response = VoiceResponse()
    if lang:
        response.say(lang.thanks, language=lang.say_language)
    response.hangup()
    return str(response.to_xml())


def choose_language(ivr: IvrSettings, digits: str, speech: str) -> IvrLanguage | None:
    for lang in ivr.languages:
        if digits and digits[:1] == lang.digit:
            return lang
    heard = speech.strip().lower()
    if heard:
        for lang in ivr.languages:
            if any(word.lower() in heard for word in lang.speech):
                return lang
    return None


def choose_option(ivr: IvrSettings, lang_code: str, digits: str, speech: str) -> IvrOption | None:
    """A digit wins; otherwise the first option one of whose words the caller said (substring: works for Chinese)."""
    for option in ivr.options:
        if digits and digits[:1] == option.digit:
            return option
    heard = speech.strip().lower()
    if heard:
        for option in ivr.options:
            if any(word.lower() in heard for word in option.speech.get(lang_code, [])):
                return option
    return None
