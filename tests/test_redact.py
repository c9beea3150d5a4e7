"""Secret hygiene: no credential reaches a log record, an in-channel post or an error text."""

from __future__ import annotations

import json
import logging

import pytest

from bot.redact import REDACTED, Redactor
from bot.slack.views.delete import DELETE_ACTION

COMMANDS = [
    "help",
    "whoami",
    "list acme",
    "list acme/api --public",
    "get acme linux-idle --public",
    "downloads acme --public",
    "token acme",
    "token acme/api --public",
    "token enterprise:octo-ent",
    "remove-token acme",
    "remove-token enterprise:octo-ent --public",
    "delete acme linux-idle",
    "labels acme linux-idle",
    "label acme linux-idle add cuda",
    "groups acme",
    "list acme --group Default --public",
    "jit acme/api jit-a --public",
    "jit enterprise:octo-ent jit-b",
    "audit",
    "audit acme",
    "list globex",
    "token globex",
    "list nope/nope",
    "frobnicate",
]


async def test_no_secret_in_logs_posts_or_errors(
    make_sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with make_sandbox(audit_slack_channel="C0AUDIT") as sb:
        replies = [await sb.run(text) for text in COMMANDS]
        replies += [await sb.run(t, user_id="U0BOB", user_name="bob") for t in COMMANDS]
        ask = next(r for r in replies if "Delete runner" in json.dumps(r))
        replies.append(await sb.click(ask, DELETE_ACTION))
        sb.github.add_fault("POST", ".*/registration-token", status=500, times=None)
        replies.append(await sb.run("token acme"))
        sb.github.expire_installation_tokens()
        replies.append(await sb.run("token acme/api"))
        secrets = {
            "private key": sb.keys.private_pem,
            "webhook secret": sb.settings.github_webhook_secret,
            "signing secret": sb.settings.slack_signing_secret,
            "bot token": sb.settings.slack_bot_token,
            "enterprise PAT": sb.settings.github_enterprise_token or "",
        }
        for i, token in enumerate(sb.github.issued_installation_tokens):
            secrets[f"installation token {i}"] = token
        for i, token in enumerate(sb.github.issued_runner_tokens):
            secrets[f"runner token {i}"] = token
        for i, config in enumerate(sb.github.issued_jit_configs):
            secrets[f"JIT config {i}"] = config
        assert len(sb.github.issued_jit_configs) == 2
        assert len(sb.github.issued_runner_tokens) >= 5
        posted = [json.dumps(p) for p in sb.slack.posted]  # the audit channel

    logged = "\n".join(f"{r.getMessage()}\n{r.exc_text or ''}" for r in caplog.records)
    assert "registration-token" in logged or "minted" in logged  # logging did happen
    in_channel = [json.dumps(r) for r in replies if r.get("response_type") == "in_channel"]
    assert in_channel, "some replies were public"
    errors = [
        json.dumps(r)
        for r in replies
        if any(m in json.dumps(r).lower() for m in ("nothing was changed", "did not confirm"))
    ]
    assert errors
    for what, secret in secrets.items():
        for line in [secret, *secret.splitlines()[1:-1]]:
            assert line not in logged, f"{what} in a log record"
            assert all(line not in p for p in in_channel), f"{what} in an in-channel reply"
            assert all(line not in p for p in posted), f"{what} in the audit channel"
            assert all(line not in e for e in errors), f"{what} in an error reply"
    # Tokens and JIT configs appear only in ephemeral replies.
    for token in [*sb.github.issued_runner_tokens, *sb.github.issued_jit_configs]:
        for reply in replies:
            if token in json.dumps(reply):
                assert reply["response_type"] == "ephemeral"


def test_redactor_patterns_and_known_values() -> None:
    r = Redactor()
    r.add_setting("s3cr3t-signing-value")
    r.add("AABF3JGZDX3P5PMEXLND6TS6FCWO6")
    text = (
        "ghs_16C7e42F292c6912E7710c838347Ae178B4a and github_pat_11ABCDEFG0123456789_abcdefghij "
        "xoxb-1234-5678-abcdefgh eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMjMifQ.c2lnbmF0dXJlLXNpZw "
        "s3cr3t-signing-value AABF3JGZDX3P5PMEXLND6TS6FCWO6 "
        "-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY----- ok"
    )
    out = r(text)
    assert out.count(REDACTED) == 7 and out.endswith(" ok")
    assert r("nothing secret here") == "nothing secret here"


def test_a_value_added_at_run_time_is_redacted_without_any_setting() -> None:
    """Setup mode has no configured secret yet; what it receives must be redacted all the same."""
    r = Redactor()
    r.add("whsec-from-the-manifest-flow")
    assert r("secret=whsec-from-the-manifest-flow.") == f"secret={REDACTED}."


@pytest.fixture
def redactor(monkeypatch: pytest.MonkeyPatch) -> Redactor:
    from bot import redact

    r = Redactor()
    r.add_setting("s3cr3t-signing-value")
    monkeypatch.setattr(redact, "redact", r)
    return r


def _record(msg: object, *args: object, name: str = "test") -> logging.LogRecord:
    from bot.redact import redact_record

    return redact_record(logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None))


def test_clean_records_keep_their_args(redactor: Redactor) -> None:
    record = _record("%s answered %d in %.1f s", "api", 200, 0.25)
    assert record.args == ("api", 200, 0.25)
    assert record.getMessage() == "api answered 200 in 0.2 s"


def test_uvicorn_access_lines_stay_formattable_and_redacted(redactor: Redactor) -> None:
    from uvicorn.logging import AccessFormatter

    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s')
    args = ("127.0.0.1:5", "GET", "/x?t=s3cr3t-signing-value", "1.1", 200)
    line = formatter.format(_record('%s - "%s %s HTTP/%s" %d', *args, name="uvicorn.access"))
    assert line.startswith('127.0.0.1:5 - "GET /x?t=[redacted] HTTP/1.1" 200')


class Holder:
    def __str__(self) -> str:
        return "holder of s3cr3t-signing-value"


@pytest.mark.parametrize(
    "arg",
    [
        ValueError("bad s3cr3t-signing-value"),
        {"token": "s3cr3t-signing-value"},
        b"s3cr3t-signing-value",
        Holder(),
    ],
)
def test_non_str_args_holding_a_secret_are_redacted(redactor: Redactor, arg: object) -> None:
    for fmt in ("got %s and %d", "got %r and %d"):
        record = _record(fmt, arg, 7)  # a second arg keeps the tuple shape
        assert "s3cr3t" not in record.getMessage()
        assert isinstance(record.args, tuple) and len(record.args) == 2


def test_records_that_cannot_be_redacted_arg_by_arg_are_flattened(redactor: Redactor) -> None:
    # A secret split across two arguments is caught in the formatted message.
    record = _record("%s%s", "s3cr3t-", "signing-value")
    assert record.getMessage() == REDACTED and not record.args
    # A mapping argument and a secret in the format string itself.
    record = _record("%(who)s s3cr3t-signing-value", {"who": "me"})
    assert record.getMessage() == f"me {REDACTED}"
    record = _record("broken %d", "s3cr3t-signing-value")
    assert "s3cr3t" not in record.getMessage()
