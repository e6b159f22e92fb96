"""The agent console and the web chat in real browsers (headless Chromium), against the whole stack.

A customer writes Hindi in the web chat and asks for a person; an English-speaking agent sees the chat appear
in the live queue, takes it, reads the history with the English machine translation beside the Hindi, and
replies in English; the customer reads the reply in Hindi; the agent hands the chat back to the bot, which
welcomes the customer back and answers again. Translation goes through the real client to the
LibreTranslate-speaking fake, whose pseudo translation of ``text`` into ``xx`` is ``"[xx] text"``.

Screenshots of every step: var/test-artifacts/browser/<test>/ (see conftest.py).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from bot.catalogue import load_locale
from tests.browser.conftest import ROOT
from tests.integration.conftest import running_stack

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says how to install it, and skips
    expect = None

pytestmark = [pytest.mark.integration, pytest.mark.browser]

AGENT = {"username": "asha", "name": "Asha", "team": "customer-care", "language": "en"}
AGENT_PASSWORD = "lotus-kettle-harbour-58"
HINDI_GREETING = "नमस्ते"
HINDI_REQUEST = "मुझे किसी इंसान से बात करनी है"
HINDI_WHILE_WAITING = "मेरा ऑर्डर अभी तक नहीं आया"
ENGLISH_REPLY = "Hello, I am Asha from customer care. I am looking at your order now."
ENGLISH_FOLLOW_UP = "It will reach you tomorrow. Anything else?"

# Someone is always there, whatever the clock or a developer's .env says (empty SUPPORT_HOURS: always open).
EXTRA_ENV = {"SUPPORT_HOURS": ""}


def hindi(key: str, **values: str) -> re.Pattern:
    """The Hindi response ``key`` as a pattern, with ``values`` (patterns) in its placeholders."""
    variants = []
    for variant in load_locale("hi")[key]:
        parts = re.split(r"\{(\w+)\}", variant["text"])
        variants.append("".join(values[part] if i % 2 else re.escape(part) for i, part in enumerate(parts)))
    return re.compile("^(?:" + "|".join(variants) + ")$")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, playwright):  # no browser: skip before starting anything
    tmp = tmp_path_factory.mktemp("browser-stack")
    with running_stack(tmp, f"sqlite:///{tmp / 'sahayak.db'}", extra_env=EXTRA_ENV) as running:
        yield running


def create_agent(stack, username: str, password: str, *, name: str, teams: list[str], language: str,
                 admin: bool = False) -> None:
    """An admin creates an agent with the command (the password on standard input)."""
    command = [sys.executable, "-m", "backend.agents", "create", "--username", username, "--name", name,
               "--language", language, "--password-stdin"]
    for team in teams:
        command += ["--team", team]
    if admin:
        command.append("--admin")
    done = subprocess.run(command, input=password + "\n", text=True, capture_output=True, cwd=ROOT, timeout=180,
                          env={**os.environ, "DATABASE_URL": stack.database_url})
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def agent(stack):
    create_agent(stack, AGENT["username"], AGENT_PASSWORD, name=AGENT["name"], teams=[AGENT["team"]],
                 language=AGENT["language"])
    return AGENT


class WebChat:
    """The customer's side: the web chat page at the backend's root."""
    BOT = "#log .row.bot:not(.typing) .bubble"

    def __init__(self, person, stack):
        self.person = person
        self.page = person.page
        self.page.goto(f"{stack.backend_url}/")
        self.page.locator("#composer #input").wait_for()

    def bot_bubbles(self):
        return self.page.locator(self.BOT)

    def say(self, text: str) -> list[dict]:
        """Type ``text`` and send it; returns the replies the backend answered the page with (once they are
        shown)."""
        shown = self.bot_bubbles().count()
        self.page.fill("#input", text)
        with self.page.expect_response(lambda r: r.url.endswith("/chat/messages") and r.request.method == "POST",
                                       timeout=60_000) as answer:
            self.page.press("#input", "Enter")
        assert answer.value.ok, f"POST /chat/messages answered HTTP {answer.value.status}: {answer.value.text()}"
        replies = answer.value.json()
        texts = [reply["text"] for reply in replies if reply.get("text")]
        if texts:
            expect(self.bot_bubbles()).to_have_count(shown + len(texts))
        return replies


def test_web_chat_answers_in_the_browser(stack, browser):
    """The customer's side on its own: Hindi in, the bot's Hindi greeting out, as rendered by the page."""
    customer = browser("customer", viewport=(430, 800))
    chat = WebChat(customer, stack)
    customer.shot("web chat opened")
    replies = chat.say(HINDI_GREETING)
    greetings = {variant["text"] for variant in load_locale("hi")["utter_greet"]}
    assert [reply["text"] for reply in replies] and replies[0]["text"] in greetings
    expect(chat.bot_bubbles().last).to_have_text(replies[-1]["text"])
    expect(customer.page.locator("#log .row.user .bubble").last).to_have_text(HINDI_GREETING)
    customer.shot("bot greeted in hindi")


def log_in(person, stack, username: str, password: str) -> None:
    page = person.page
    page.goto(f"{stack.backend_url}/console/login")
    form = page.locator("#login-form")
    expect(form).to_be_visible()
    assert form.locator("input[name=csrf_token]").get_attribute("value"), "the login form has no CSRF token"
    page.fill("#username", username)
    page.fill("#password", password)


def test_login_rejects_a_wrong_password(stack, agent, browser):
    person = browser("agent")
    log_in(person, stack, agent["username"], "not-" + AGENT_PASSWORD)
    person.shot("wrong password typed")
    person.page.click("#login-button")
    expect(person.page.locator("#login-error")).to_be_visible()
    expect(person.page.locator("#queue")).to_have_count(0)
    person.shot("login refused")
    # Still not logged in: the queue is not shown.
    person.page.goto(f"{stack.backend_url}/console")
    expect(person.page.locator("#queue")).to_have_count(0)
    expect(person.page.locator("#login-form")).to_be_visible()
    person.shot("console asks to log in")


def test_agent_takes_a_hindi_chat_replies_in_english_and_hands_it_back(stack, agent, browser):
    # The agent logs in and waits at the queue.
    agent_person = browser("agent")
    console = agent_person.page
    log_in(agent_person, stack, agent["username"], AGENT_PASSWORD)
    agent_person.shot("login form filled")
    console.click("#login-button")
    expect(console).to_have_url(re.compile(r"/console/?$"))
    expect(console.locator("#queue")).to_be_visible()
    waiting_before = console.locator("#queue li.queue-item").count()
    console.evaluate("window.sahayakTestMarker = 'not reloaded'")
    agent_person.shot("queue before the customer asks")

    # The customer greets in Hindi, then asks for a person.
    customer = browser("customer", viewport=(430, 800))
    chat = WebChat(customer, stack)
    greetings = {variant["text"] for variant in load_locale("hi")["utter_greet"]}
    assert chat.say(HINDI_GREETING)[0]["text"] in greetings
    customer.shot("bot greeted in hindi")
    escalated = [reply["text"] for reply in chat.say(HINDI_REQUEST) if reply.get("text")]
    queued = hindi("utter_handoff_queued", position="1", wait=r"\d+", reference=r"(?P<ticket>T-\d{6})")
    assert len(escalated) == 1 and queued.match(escalated[0]), escalated
    ticket = queued.match(escalated[0]).group("ticket")
    customer.shot("asked for a person")

    # The chat appears in the agent's queue by itself: Hindi, web chat (the REST channel), with its ticket.
    item = console.locator("#queue li.queue-item[data-language='hi']")
    expect(item).to_have_count(1)
    assert console.evaluate("window.sahayakTestMarker") == "not reloaded", "the queue page was reloaded"
    assert console.locator("#queue li.queue-item").count() == waiting_before + 1
    assert item.get_attribute("data-channel") == "rest"
    handoff_id = item.get_attribute("data-handoff-id")
    assert handoff_id
    expect(item.locator(".ticket")).to_have_text(ticket)
    expect(item.locator(".wait")).to_have_text(re.compile(r"^waiting \d"))  # ticks: "waiting 3 s"
    agent_person.shot("hindi chat waiting in the queue")

    # The agent takes it and reads the history: the Hindi as written, its English translation beside it.
    item.locator("button.take-button").click()
    expect(console).to_have_url(re.compile(rf"/console/chats/{re.escape(handoff_id)}/?$"))
    history = console.locator("#history")
    request = history.locator(".message[data-kind='customer']").filter(has_text=HINDI_REQUEST)
    expect(request).to_have_count(1)
    expect(request.locator(".original")).to_have_text(HINDI_REQUEST)
    expect(request.locator(".translation")).to_have_text(f"[en] {HINDI_REQUEST}")
    greeting = history.locator(".message[data-kind='customer']").filter(has_text=HINDI_GREETING)
    expect(greeting.first.locator(".translation")).to_have_text(f"[en] {HINDI_GREETING}")
    bot_turns = history.locator(".message[data-kind='bot']")
    expect(bot_turns.first).to_be_visible()
    expect(bot_turns.first.locator(".translation")).to_contain_text("[en] ")
    expect(console.locator("#translation-status")).not_to_be_visible()
    agent_person.shot("history with english translation")

    # The agent replies in English; the customer reads it in Hindi.
    console.fill("#reply-text", ENGLISH_REPLY)
    agent_person.shot("reply typed")
    console.click("#send-reply")
    sent = history.locator(".message[data-kind='agent']").filter(has_text=ENGLISH_REPLY)
    expect(sent).to_have_count(1)
    expect(sent.locator(".original")).to_have_text(ENGLISH_REPLY)
    expect(sent.locator(".translation")).to_have_text(f"[hi] {ENGLISH_REPLY}")  # what the customer is sent
    expect(console.locator("#reply-text")).to_have_value("")
    expect(chat.bot_bubbles().filter(has_text=f"[hi] {ENGLISH_REPLY}")).to_have_count(1)
    # Taking the chat told the customer who joined, in Hindi.
    expect(chat.bot_bubbles().filter(has_text=hindi("utter_handoff_agent_joined", agent_name="Asha"))).to_have_count(1)
    agent_person.shot("reply sent")
    customer.shot("agent reply in hindi")

    # While a person has the chat, the bot keeps quiet: the customer's message goes to the agent only.
    shown = chat.bot_bubbles().count()
    assert chat.say(HINDI_WHILE_WAITING) == []
    live = history.locator(".message[data-kind='customer']").filter(has_text=HINDI_WHILE_WAITING)
    expect(live).to_have_count(1)
    expect(live.locator(".translation")).to_have_text(f"[en] {HINDI_WHILE_WAITING}")
    customer.page.wait_for_timeout(4_000)  # longer than the page's inbox poll: nothing from the bot arrives
    expect(chat.bot_bubbles()).to_have_count(shown)
    customer.shot("no bot reply in agent mode")
    agent_person.shot("customer message arrived live")

    # Ctrl+Enter sends too.
    console.fill("#reply-text", ENGLISH_FOLLOW_UP)
    console.press("#reply-text", "Control+Enter")
    expect(chat.bot_bubbles().filter(has_text=f"[hi] {ENGLISH_FOLLOW_UP}")).to_have_count(1)
    customer.shot("second reply by ctrl enter")

    # The agent hands the chat back to the bot, which welcomes the customer back and answers again.
    shown = chat.bot_bubbles().count()
    console.click("#return-button")
    chat.bot_bubbles().nth(shown).wait_for()
    expect(chat.bot_bubbles().nth(shown)).to_have_text(hindi("utter_handoff_returned"))
    agent_person.shot("returned to bot")
    customer.shot("bot welcomes back")
    replies = chat.say(HINDI_GREETING)
    assert replies and replies[0]["text"] in greetings, replies
    customer.shot("bot answers again")
