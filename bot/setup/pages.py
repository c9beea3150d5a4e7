"""The setup pages: server-rendered HTML with inline CSS, readable without JavaScript.

Every value that reaches a page goes through :func:`html.escape`; nothing here reads a
request or a setting, so the pages can be rendered (and looked at) on their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from typing import Any

CSS = """
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0;
  --ok: #1a7f37; --todo: #9a6700; --accent: #0969da; --bad: #d1242f; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  color: var(--fg); background: #f6f8fa; }
main { max-width: 48rem; margin: 0 auto; padding: 2rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 0; }
p { margin: .5rem 0; }
.lead { color: var(--muted); margin-bottom: 1.5rem; }
.step { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 1rem 1.25rem; margin: 0 0 1rem; }
.step header { display: flex; align-items: center; gap: .6rem; margin-bottom: .4rem; }
.num { display: inline-grid; place-items: center; width: 1.7rem; height: 1.7rem;
  border-radius: 50%; background: var(--fg); color: #fff; font-weight: 600; font-size: .9rem; }
.badge { margin-left: auto; font-size: .8rem; font-weight: 600; padding: .1rem .55rem;
  border-radius: 1rem; border: 1px solid currentColor; }
.done { color: var(--ok); } .todo { color: var(--todo); }
label { display: block; font-weight: 600; margin: .8rem 0 .2rem; }
.hint { font-weight: 400; color: var(--muted); font-size: .9rem; }
input[type=text], input[type=url] { width: 100%; padding: .45rem .6rem; font: inherit;
  border: 1px solid var(--line); border-radius: 6px; }
button, .button { display: inline-block; margin-top: 1rem; padding: .5rem 1rem;
  font: inherit; font-weight: 600; color: #fff; background: #1f883d; border: 0;
  border-radius: 6px; text-decoration: none; cursor: pointer; }
.button.secondary { background: var(--accent); }
code, pre { font: .85rem/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { background: #eff2f5; padding: .1rem .3rem; border-radius: 4px; }
pre { background: #0d1117; color: #e6edf3; padding: .9rem 1rem; border-radius: 6px;
  overflow-x: auto; white-space: pre; }
pre.wrap { white-space: pre-wrap; word-break: break-all; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .5rem 0; }
dt { color: var(--muted); } dd { margin: 0; }
details { margin-top: .6rem; } summary { cursor: pointer; color: var(--accent); }
.error { border-color: var(--bad); } .error h1 { color: var(--bad); }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: .8rem 0 0;
  padding: .4rem .9rem .6rem; }
legend { font-weight: 600; padding: 0 .3rem; }
label.choice { font-weight: 400; margin: .4rem 0 0; }
label.choice strong { font-weight: 600; }
.warn { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px;
  padding: .6rem .9rem; }
"""


# What registering a public App means, said where the choice is made and again before it.
PUBLIC_MEANS = (
    "Public means any GitHub account can install the App, not only the organizations you"
    " choose. Installing it grants runnerops nothing on an account that is not allowed:"
    " this deployment serves only the accounts listed in <code>GITHUB_ALLOWED_ACCOUNTS</code>"
    " (it asks GitHub nothing for the others, refuses their webhooks and stores none of"
    " them, and answers commands on them that the account is not served). The App's private"
    " key stays with this deployment; an installer gets no access to your organizations."
)


def page(title: str, body: str, *, error: bool = False) -> str:
    """A whole HTML document around ``body`` (already escaped HTML)."""
    klass = ' class="error"' if error else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)} · runnerops</title><style>{CSS}</style></head>"
        f"<body><main{klass}>{body}</main></body></html>\n"
    )


def message_page(title: str, *paragraphs: str, start_again: bool = True) -> str:
    """A refusal or an error: what happened and what to do, never a stack trace."""
    body = f"<h1>{escape(title)}</h1>" + "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    if start_again:
        body += '<p><a class="button secondary" href="/setup">Start again</a></p>'
    return page(title, body, error=True)


def _step(number: int, title: str, done: bool | None, body: str) -> str:
    """One numbered step; ``done`` None for a step that has no state (an instruction)."""
    badge = {
        True: '<span class="badge done">done</span>',
        False: '<span class="badge todo">to do</span>',
        None: "",
    }[done]
    return (
        f'<section class="step" id="step-{number}"><header><span class="num">{number}</span>'
        f"<h2>{escape(title)}</h2>{badge}</header>{body}</section>"
    )


@dataclass(frozen=True)
class SetupView:
    """Everything the setup page shows."""

    base_url: str
    github_url: str
    github_api_url: str
    github_configured: bool  # GITHUB_URL or GITHUB_API_URL set (else the defaults)
    github_pending: bool
    slack_pending: bool
    manifest: dict[str, Any]
    form_token: str  # the state itself is made when the form is posted
    slack_create_url: str
    slack_manifest: dict[str, Any]
    slack_socket_create_url: str = ""  # the Socket Mode variant's link (no request URLs)
    github_app_id: str | None = None
    install_url: str | None = None
    organization: str = ""
    several: bool = False  # the App serves several organizations: a public App
    problem: str | None = None  # a bad field sent back with the form


def _accounts_choice(several: bool) -> str:
    """One account or several: radio buttons in the registration form (no script: the
    choice travels with the form, and "several" first shows what a public App means)."""
    one_checked, several_checked = ("", " checked") if several else (" checked", "")
    return (
        '<fieldset id="accounts"><legend>Which accounts will it serve?</legend>'
        '<label class="choice"><input type="radio" name="accounts" value="one" id="accounts-one"'
        f"{one_checked}> <strong>One account</strong>: the organization above (or your own"
        " account). A private App: GitHub lets only the account that owns it install it.</label>"
        '<label class="choice"><input type="radio" name="accounts" value="several"'
        f' id="accounts-several"{several_checked}> <strong>Several organizations</strong>:'
        " a public App, installed by each organization, and the ones served listed in"
        " <code>GITHUB_ALLOWED_ACCOUNTS</code>.</label>"
        f'<p class="hint">{PUBLIC_MEANS}</p></fieldset>'
    )


def public_app_page(*, manifest: dict[str, Any], action: str, state: str, organization: str) -> str:
    """The step between choosing "several organizations" and GitHub: what a public App
    means, said plainly, and the form that registers it (posted to GitHub's new-App page
    as the one-account form is, by the browser, without script)."""
    owner = (
        f"the organization <code>{escape(organization)}</code>"
        if organization
        else "your own account"
    )
    manifest_text = escape(json.dumps(manifest, indent=2))
    body = (
        "<h1>Register a public GitHub App</h1>"
        f'<p class="lead">It will be owned by {owner} and installed by each organization'
        " this deployment serves.</p>"
        + _step(
            1,
            "What public means",
            None,
            f'<p id="public-means">{PUBLIC_MEANS}</p>'
            "<p>After registering, install it on each organization (the next page gives the"
            " link), then set <code>GITHUB_ALLOWED_ACCOUNTS</code> to their logins, separated"
            " by commas (<code>GITHUB_ALLOWED_ACCOUNTS=acme,globex,initech</code>).</p>",
        )
        + _step(
            2,
            "Register it on GitHub",
            None,
            f'<form method="post" action="{escape(action)}">'
            f'<input type="hidden" name="manifest" value="{escape(json.dumps(manifest))}">'
            f'<input type="hidden" name="state" value="{escape(state)}">'
            '<button type="submit">Register the public App on GitHub</button></form>'
            f"<details><summary>The manifest sent to GitHub</summary><pre>{manifest_text}</pre>"
            '</details><p><a href="/setup">Back: one account only</a></p>',
        )
    )
    return page("Register a public GitHub App", body)


def setup_page(view: SetupView) -> str:
    base = escape(view.base_url)
    intro = (
        "<h1>Set up runnerops</h1>"
        '<p class="lead">This service is in <strong>setup mode</strong>: it answers Slack and '
        "GitHub once both apps below are registered and their values are set as environment "
        f"variables. It runs at <code>{base}</code>.</p>"
    )
    if view.problem:
        intro += f'<p class="warn" role="alert">{escape(view.problem)}</p>'

    step3 = (
        "<p>Set the values as environment variables (your platform's CLI or dashboard; Heroku "
        "and Render restart the service when one changes). Once both apps are set, this page "
        'is gone: <code>/healthz</code> answers <code>{"status": "ok"}</code> and '
        "<code>/runners help</code> answers in Slack.</p>"
    )
    body = (
        intro
        + _step(1, "Register the GitHub App", not view.github_pending, _github_step(view))
        + _step(2, "Create the Slack app", not view.slack_pending, _slack_step(view))
        + _step(3, "Set the variables and restart", None, step3)
    )
    return page("Set up runnerops", body)


def _github_step(view: SetupView) -> str:
    """Step 1: the manifest form while the App is pending, else where to install it."""
    if view.github_pending:
        origin = (
            "from <code>GITHUB_URL</code> / <code>GITHUB_API_URL</code>"
            if view.github_configured
            else "the default: <code>GITHUB_URL</code> and <code>GITHUB_API_URL</code> are unset"
        )
        where = (
            f'<dl id="github-host"><dt>GitHub</dt><dd><code>{escape(view.github_url)}</code>'
            f" (API <code>{escape(view.github_api_url)}</code>), {origin}</dd></dl>"
            '<p class="hint">This deployment\'s setting, not a field: for GitHub Enterprise '
            "Server set <code>GITHUB_API_URL=https://HOST/api/v3</code>, for GitHub "
            "Enterprise Cloud with data residency "
            "<code>GITHUB_API_URL=https://api.SUBDOMAIN.ghe.com</code>, then restart.</p>"
        )
        manifest_text = escape(json.dumps(view.manifest, indent=2))
        return (
            "<p>Register the GitHub App with GitHub's manifest flow: GitHub creates it with "
            "runnerops' permissions (self-hosted runners: write; administration: write; "
            "actions, metadata: read) and this webhook, then sends you back here with its id, "
            "private key and webhook secret, <strong>shown once</strong>.</p>"
            f"<dl><dt>Webhook</dt><dd><code>{escape(view.manifest['hook_attributes']['url'])}"
            f"</code></dd><dt>Returns to</dt><dd><code>{escape(view.manifest['redirect_url'])}"
            "</code></dd></dl>"
            f"{where}"
            '<form method="post" action="/setup/github">'
            f'<input type="hidden" name="manifest" value="{escape(json.dumps(view.manifest))}">'
            f'<input type="hidden" name="form_token" value="{escape(view.form_token)}">'
            '<label for="organization">Organization <span class="hint">(optional: the '
            "organization that owns the App; empty for your personal account)</span></label>"
            '<input type="text" id="organization" name="organization" maxlength="39" '
            f'value="{escape(view.organization)}" placeholder="acme" autocomplete="off">'
            + _accounts_choice(view.several)
            + '<button type="submit">Register on GitHub</button></form>'
            f"<details><summary>The manifest sent to GitHub</summary><pre>{manifest_text}</pre>"
            "</details>"
        )
    step1 = f"<p>GitHub App <code>{escape(view.github_app_id or '')}</code> is configured.</p>"
    if view.install_url:
        step1 += (
            f'<p><a href="{escape(view.install_url)}">Install it</a> on the account that '
            "owns it; a public App (several organizations) on each organization it serves: "
            "open the link once per organization, and list them in "
            "<code>GITHUB_ALLOWED_ACCOUNTS</code>.</p>"
        )
    return step1


def _slack_step(view: SetupView) -> str:
    """Step 2: how to create the Slack app (over HTTP or Socket Mode), or that it is set."""
    base = escape(view.base_url)
    if view.slack_pending:
        slack_text = escape(json.dumps(view.slack_manifest, indent=2))
        step2 = (
            "<p>Create the Slack app from its manifest (its slash commands and buttons point at "
            f"<code>{base}/slack/events</code>), pick the workspace, create it, then "
            "<em>Install to Workspace</em>.</p>"
            f'<p><a class="button secondary" href="{escape(view.slack_create_url)}" '
            'rel="noreferrer">Create the Slack app</a></p>'
            "<p>Copy two values back:</p><dl>"
            "<dt><code>SLACK_SIGNING_SECRET</code></dt><dd><em>Basic Information → App "
            "Credentials → Signing Secret</em></dd>"
            "<dt><code>SLACK_BOT_TOKEN</code></dt><dd><em>OAuth &amp; Permissions → Bot User "
            "OAuth Token</em> (<code>xoxb-…</code>)</dd></dl>"
            f"<details><summary>The Slack manifest</summary><pre>{slack_text}</pre></details>"
        )
        if view.slack_socket_create_url:
            step2 += (
                "<p><strong>Inside a private network</strong> (Slack cannot reach this address)? "
                "Use <em>Socket Mode</em> instead: runnerops connects out to Slack, nothing "
                "comes in. "
                f'<a href="{escape(view.slack_socket_create_url)}" rel="noreferrer">Create the '
                "Slack app for Socket Mode</a>, install it, then under <em>Basic Information → "
                "App-Level Tokens</em> generate a token with the scope "
                "<code>connections:write</code> and set it as <code>SLACK_APP_TOKEN</code> "
                "(<code>xapp-…</code>) with <code>SLACK_BOT_TOKEN</code>; no signing secret is "
                "needed.</p>"
            )
        return step2
    return "<p>The Slack app's variables are set.</p>"


@dataclass(frozen=True)
class Registered:
    """What GitHub's manifest conversion returned, as the callback page shows it."""

    app_id: str
    slug: str
    name: str
    owner: str
    html_url: str
    install_url: str
    heroku: str  # ready-to-paste commands
    dotenv: str
    several: bool = False  # registered public, for several organizations


def callback_page(app: Registered) -> str:
    body = (
        f"<h1>GitHub App {escape(app.slug)} registered</h1>"
        '<p class="lead">GitHub created the App. Its private key and webhook secret are on '
        "this page <strong>once</strong>: runnerops neither stores nor logs them, and this "
        "page is not cached. Set them now.</p>"
        f"<dl><dt>App id</dt><dd><code>{escape(app.app_id)}</code></dd>"
        f"<dt>Slug</dt><dd><code>{escape(app.slug)}</code></dd>"
        f"<dt>Owner</dt><dd>{escape(app.owner)}</dd>"
        f'<dt>On GitHub</dt><dd><a href="{escape(app.html_url)}" rel="noreferrer">'
        f"{escape(app.html_url)}</a></dd></dl>"
        + _step(
            1,
            "Set the variables",
            None,
            "<p>With the Heroku CLI, in a POSIX shell such as bash or zsh (add "
            "<code>-a YOUR-APP</code> outside the app's git checkout):</p>"
            f'<pre id="heroku">{escape(app.heroku)}</pre>'
            "<p>Or as a <code>.env</code> file (say <code>github.env</code>): each value is "
            "quoted and the key is on one line, its <code>\\n</code> escapes read as "
            "newlines, so <code>set -a; . ./github.env; set +a</code> loads it, as do "
            "loaders that strip quotes (Docker Compose's <code>env_file</code>, python-dotenv;"
            " not <code>docker run --env-file</code>, which keeps them). In a dashboard, set "
            "each value without its quotes.</p>"
            f'<pre id="dotenv" class="wrap">{escape(app.dotenv)}</pre>',
        )
        + _step(2, "Install the App", None, _install_step(app))
        + _step(
            3,
            "Back to setup",
            None,
            '<p>Then <a href="/setup">create the Slack app</a> if it is not done yet.</p>',
        )
    )
    return page(f"GitHub App {app.slug} registered", body)


def _install_step(app: Registered) -> str:
    link = (
        f'<p><a class="button secondary" id="install" href="{escape(app.install_url)}" '
        f'rel="noreferrer">{escape(app.install_url)}</a></p>'
    )
    if not app.several:
        return (
            f"<p>Install it on {escape(app.owner)} (all repositories, or the ones whose runners"
            " you manage). It is a private App: GitHub lets only the account that owns it"
            " install it, and that account is the one runnerops serves.</p>" + link
        )
    return (
        "<p>It is a <strong>public</strong> App. Install it on each organization this"
        " deployment serves: open the link once per organization, signed in as one of its"
        " owners, and choose the organization (all repositories, or the ones whose runners"
        " you manage).</p>" + link + "<p>Then list those organizations, and only those, in"
        " <code>GITHUB_ALLOWED_ACCOUNTS</code>:</p>"
        '<pre id="allowed">heroku config:set GITHUB_ALLOWED_ACCOUNTS=ORG1,ORG2,ORG3</pre>'
        f'<p class="hint">{PUBLIC_MEANS} An installation on an account not listed is logged'
        " with how to serve it.</p>"
    )
