"""Talk to the running assistant from the terminal, through its REST channel."""
from __future__ import annotations

import getpass
import json
import urllib.error
import urllib.request
import uuid


def send(rasa_url: str, sender: str, message: str, token: str | None = None) -> list[dict]:
    url = f"{rasa_url}/webhooks/rest/webhook"
    if token:
        url += f"?token={token}"
    request = urllib.request.Request(
        url, data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"[]")


def render(reply: dict) -> tuple[str, list[dict]]:
    lines = [reply.get("text") or ""]
    buttons = reply.get("buttons") or []
    lines += [f"  [{number}] {button.get('title')}" for number, button in enumerate(buttons, 1)]
    if reply.get("image"):
        lines.append(f"  (image: {reply['image']})")
    return "\n".join(line for line in lines if line), buttons


def repl(rasa_url: str, token: str | None = None) -> None:
    sender = f"cli-{getpass.getuser()}-{uuid.uuid4().hex[:8]}"
    print(f"Talking to {rasa_url} as {sender}. Type a message; a number picks a button; Ctrl-D or /quit ends.")
    buttons: list[dict] = []
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if text == "/quit":
            return
        if text.isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        try:
            replies = send(rasa_url, sender, text, token)
        except (urllib.error.URLError, OSError) as error:
            print(f"(cannot reach the assistant at {rasa_url}: {error}. Is `make run` running?)")
            continue
        buttons = []
        for reply in replies:
            shown, reply_buttons = render(reply)
            buttons = reply_buttons or buttons
            print(f"bot> {shown}")
