"""`helpline search`: a case by its reference or its customer's address, and text in both languages."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from core.settings import Settings
from core.store import Store
from helpline.cli import app
from tests.record.test_pipeline_record import email
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain


def test_search_finds_cases_and_text(store: Store, settings: Settings, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    accepted = store.accept(email("q1@example.com", "我的帳戶被凍結了, my wallet is frozen"), b"raw")
    store.accept(email("q2@example.com", "Refund please", sender="bob@example.com"), b"raw")
    drain(settings)
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text(f'[database]\nurl = "{settings.database.url}"\n', encoding="utf-8")

    def search(*query: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["search", *query, "--settings", str(settings_file)])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output

    code, by_address = search("ALICE@example.com")
    assert code == 0 and len(by_address.splitlines()) == 1 and by_address.startswith("HL-"), by_address
    reference = by_address.split()[0]
    assert search(reference.lower()) == (0, by_address)
    code, frozen = search("冻结")  # simplified finds the traditional text: two characters, the bigram index
    assert code == 0 and accepted.message_id in frozen and reference in frozen and "bob" not in frozen
    code, wallet = search("WALLET is")
    assert code == 0 and accepted.message_id in wallet
    assert search("no such words anywhere") == (0, "nothing found\n")
    code, short = search("ab")
    assert code == 2 and "3 characters or more" in short
