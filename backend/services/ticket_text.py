"""Reading what customers type about tickets: ticket numbers, categories, and when two complaints are the same."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Optional

from backend.models import TICKET_CATEGORIES
from backend.services.kb_search import WORD

# "T-000123", "t123", "T 45", "ticket 88", "ticket no. 12", "टिकट 12", "டிக்கெட் 12", "#12" (after the word ticket).
_REFERENCE = re.compile(
    r"(?:(?<![A-Za-z0-9])t\s*[-#.]?\s*|(?:ticket|tiket|टिकट|டிக்கெட்|டிக்கட்)\s*(?:no\.?|number|nr\.?|#|नंबर|எண்)?\s*[-#:]?\s*)(\d{1,9})(?!\d)",
    re.IGNORECASE,
)
# Two descriptions are the same complaint when nearly all words of the shorter one are in the longer one
# (overlap) and the two share most of their words overall (Jaccard): "my parcel never arrived" and "my parcel
# never arrived at all" are; "my parcel never arrived" and "my parcel arrived damaged" are not.
OVERLAP_THRESHOLD = 0.8
JACCARD_THRESHOLD = 0.6

# Words that name a category, in every native language (native script and Latin letters), lowercase.
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "delivery": (
        "delivery", "deliver", "delivered", "parcel", "package", "courier", "shipping", "shipment", "late",
        "entrega", "envío", "envio", "paquete", "pedido", "retraso",
        "डिलीवरी", "डिलिवरी", "पार्सल", "कूरियर",
        "டெலிவரி", "பார்சல்", "கூரியர்",
        "dilivery", "delivary", "parsal",
    ),
    "payment": (
        "payment", "pay", "paid", "charged", "charge twice", "refund", "money", "upi", "card", "debited", "bill",
        "pago", "cobro", "cobrado", "reembolso", "dinero", "tarjeta", "cargo",
        "पेमेंट", "भुगतान", "पैसे", "पैसा", "रिफंड", "कार्ड", "बिल",
        "பேமெண்ட்", "பணம்", "காசு", "ரீஃபண்ட்", "கார்டு",
        "paisa", "paise", "bhugtan", "panam", "kaasu", "kasu", "refund",
    ),
    "product": (
        "product", "item", "damaged", "broken", "defective", "wrong item", "quality", "size", "kurta", "shirt",
        "dress", "rice", "grocery", "expired",
        "producto", "artículo", "articulo", "dañado", "roto", "talla", "calidad",
        "प्रोडक्ट", "सामान", "खराब", "टूटा", "साइज़", "साइज",
        "பொருள்", "சாமான்", "உடைந்த", "சைஸ்", "தரம்",
        "saman", "samaan", "kharab", "porul", "saaman",
    ),
    "account": (
        "account", "login", "log in", "password", "otp", "sign in", "profile", "mobile number",
        "cuenta", "contraseña", "contrasena", "sesión", "sesion", "perfil",
        "अकाउंट", "खाता", "लॉगिन", "पासवर्ड", "ओटीपी",
        "அக்கவுண்ட்", "கணக்கு", "லாகின்", "பாஸ்வேர்ட்",
        "khata", "kanakku", "akkount",
    ),
    "device": (
        "device", "watch", "kid watch", "smartwatch", "gps", "sos", "tracker", "battery", "charging", "wearable",
        "reloj", "dispositivo", "batería", "bateria",
        "डिवाइस", "घड़ी", "वॉच", "बैटरी",
        "டிவைஸ்", "வாட்ச்", "கடிகாரம்", "பேட்டரி",
        "ghadi", "gadi", "vaatch", "kadigaram",
    ),
    "other": (
        "other", "something else", "else", "otro", "otra", "otra cosa",
        "अन्य", "दूसरा", "कुछ और", "வேற", "மற்றவை", "வேறு",
        "anya", "kuch aur", "dusra", "vera", "veru", "matravai",
    ),
}

assert set(CATEGORY_WORDS) == set(TICKET_CATEGORIES)


def ascii_digits(text: str) -> str:
    """Digits of any script (Devanagari ४२, Tamil ௪௨ ...) as ASCII digits."""
    return "".join(str(unicodedata.digit(ch)) if ch.isdigit() and not ch.isascii() else ch for ch in text)


def parse_reference(text: Optional[str]) -> Optional[int]:
    """The ticket id in a message ("T-000123", "ticket 123", "t123"), or None."""
    if not text:
        return None
    match = _REFERENCE.search(ascii_digits(text))
    if not match:
        return None
    number = int(match.group(1))
    return number or None


def parse_category(text: Optional[str]) -> Optional[str]:
    """The ticket category a short answer names ("delivery", "डिलीवरी", "2"), or None when unclear."""
    if not text:
        return None
    value = ascii_digits(unicodedata.normalize("NFC", text)).strip().casefold()
    if value in TICKET_CATEGORIES:
        return value
    if value.isdigit() and 1 <= int(value) <= len(TICKET_CATEGORIES):
        return TICKET_CATEGORIES[int(value) - 1]
    found = categories_mentioned(value)
    if not found and any(_contains_word(value, word) for word in CATEGORY_WORDS["other"]):
        return "other"
    return found.pop() if len(found) == 1 else None


def categories_mentioned(text: Optional[str]) -> set[str]:
    """Every category a message mentions ("my parcel came damaged": delivery and product)."""
    if not text:
        return set()
    value = unicodedata.normalize("NFC", text).casefold()
    return {
        category
        for category, words in CATEGORY_WORDS.items()
        if category != "other" and any(_contains_word(value, word) for word in words)
    }


def _contains_word(text: str, word: str) -> bool:
    if not word.isascii():
        # Indic words take case endings ("டெலிவரியில்"): a prefix match is what a reader does.
        return word in text
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def normalize(text: str) -> str:
    words = WORD.findall(ascii_digits(unicodedata.normalize("NFC", text)).casefold())
    return " ".join(words)


def fingerprint(text: str) -> str:
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()


def same_complaint(a: str, b: str) -> bool:
    """Whether two descriptions say the same thing (the same words, give or take a few)."""
    words_a, words_b = set(normalize(a).split()), set(normalize(b).split())
    if not words_a or not words_b:
        return False
    shared = len(words_a & words_b)
    return (
        shared / min(len(words_a), len(words_b)) >= OVERLAP_THRESHOLD
        and shared / len(words_a | words_b) >= JACCARD_THRESHOLD
    )
