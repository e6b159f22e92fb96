from connectors.senders import build_senders


def test_only_configured_channels_get_a_sender():
    # The web chat (Rasa's REST channel) needs no account: its sender is always there.
    assert set(build_senders({})) == {"rest"}
    telegram_only = build_senders({"TELEGRAM_BOT_TOKEN": "123:abc"})
    assert set(telegram_only) == {"rest", "telegram"}
    everything = build_senders({
        "TELEGRAM_BOT_TOKEN": "123:abc", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "secret",
        "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886", "TWILIO_SMS_FROM": "+15005550006",
    })
    assert set(everything) == {"rest", "telegram", "whatsapp", "sms"}
    assert all(sender.channel == channel for channel, sender in everything.items())
