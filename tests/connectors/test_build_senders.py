from connectors.senders import build_senders


def test_only_configured_channels_get_a_sender():
    assert build_senders({}) == {}
    telegram_only = build_senders({"TELEGRAM_BOT_TOKEN": "123:abc"})
    assert set(telegram_only) == {"telegram"}
    everything = build_senders({
        "TELEGRAM_BOT_TOKEN": "123:abc", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "secret",
        "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886", "TWILIO_SMS_FROM": "+15005550006",
    })
    assert set(everything) == {"telegram", "whatsapp", "sms"}
    assert all(sender.channel == channel for channel, sender in everything.items())
