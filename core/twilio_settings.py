"""The `[twilio]` section of settings.toml: the account, sending numbers, webhook checks and the voice menu (IVR).

The auth token is a secret: it comes only from `HELPLINE_TWILIO__AUTH_TOKEN`. The menu is data, so an admin can add
an option or reword a prompt without code: each option maps a digit and spoken words to a router category.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from core.settings_base import Section


class IvrLanguage(Section):
    """One language the caller can choose in the first step of the menu."""

    code: str = Field(description="reply language: en or zh")
    digit: str = Field(pattern=r"^[0-9]$")
    speech: list[str] = Field(default_factory=list, description="spoken words that pick this language")
    say_language: str = Field(description="Twilio <Say language>, e.g. en-US or cmn-CN")
    speech_language: str = Field(description="Twilio <Gather language> for speech recognition, e.g. en-US, zh-CN")
    # Twilio's <Record transcribe> only understands English; for other languages the voicemail goes in untranscribed.
    transcribe: bool = False
    choose: str = Field(description="the line that offers this language, said in this language")
    menu_intro: str = Field(description="said before the options")
    voicemail: str = Field(description="asks for the message, before the beep")
    not_understood: str
    thanks: str = Field(description="said after the recording; the caller then hangs up")


class IvrOption(Section):
    digit: str = Field(pattern=r"^[0-9]$")
    category: str = Field(description="a [router.categories] name; the router takes it without keyword guessing")
    prompt: dict[str, str] = Field(description="per language code: 'For …, press 1.'")
    speech: dict[str, list[str]] = Field(default_factory=dict, description="per language code: words that pick it")


class IvrSettings(Section):
    welcome: str = Field("Welcome to Wallet support.", description="said once when a call is answered")
    welcome_language: str = Field("en-US", description="Twilio <Say language> for the welcome line")
    gather_timeout_seconds: int = Field(5, ge=1, le=60, description="silence before a menu step gives up")
    max_recording_seconds: int = Field(120, ge=5, le=3600, description="longest voicemail")
    transcription_wait_seconds: int = Field(
        900, ge=10, description="a recording whose transcript has not arrived by then is routed without it"
    )
    languages: list[IvrLanguage] = Field(
        default_factory=list, description="step 1: the caller picks one (digit or speech); the first is the default"
    )
    options: list[IvrOption] = Field(
        default_factory=list, description="step 2: digit or speech -> router category; then the voicemail"
    )

    @model_validator(mode="after")
    def _digits_unique(self) -> IvrSettings:
        for kind, digits in (
            ("languages", [lang.digit for lang in self.languages]),
            ("options", [option.digit for option in self.options]),
        ):
            if len(digits) != len(set(digits)):
                raise ValueError(f"{kind}: each digit may be used once (got {digits})")
        codes = {lang.code for lang in self.languages}
        for option in self.options:
            missing = codes - set(option.prompt)
            if missing:
                raise ValueError(f"option {option.digit}: no prompt for {sorted(missing)}")
        return self

    def language(self, code: str) -> IvrLanguage | None:
        return next((lang for lang in self.languages if lang.code == code), None)


class TwilioSettings(Section):
    account_sid: str | None = Field(None, description="AC…; unset: SMS/WhatsApp/voice replies cannot be sent")
    auth_token: SecretStr | None = Field(None, description="environment only: HELPLINE_TWILIO__AUTH_TOKEN")
    api_base_url: str | None = Field(None, description="override https://api.twilio.com (tests point it at a fake)")
    messaging_service_sid: str | None = Field(None, description="MG…; when set, SMS replies go out through it")
    sms_from: str | None = Field(None, description="E.164 number replies use when the inbound number is unknown")
    whatsapp_from: str | None = Field(None, description="E.164 WhatsApp sender used when the inbound one is unknown")
    validate_signatures: bool = Field(True, description="check X-Twilio-Signature; off logs a warning at every start")
    default_region: str = Field("US", description="region for numbers that arrive without a + (ISO 3166 code)")
    max_sms_segments: int = Field(3, ge=1, le=10, description="longer SMS replies are shortened to fit")
    whatsapp_window_hours: int = Field(24, ge=1, description="WhatsApp's customer-service window for free-form text")
    request_timeout_seconds: float = Field(15.0, gt=0, description="timeout of one Twilio API request")
    ivr: IvrSettings = IvrSettings()
