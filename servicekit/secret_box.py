"""Sealing secrets that must travel through the event log without being readable there.

A :class:`SecretBox` holds the operator's 32-byte key (``CAIRN_AUTOMATIONS_SECRET_KEY``, base64)
and seals a secret with AES-256-GCM: ``nonce (12 bytes) || ciphertext+tag``. The associated data
binds a sealed secret to where it belongs (for webhook secrets: the rule's team and name), so a
sealed value copied into another rule does not open there. Ingest seals, the processors open;
nothing else holds the key.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cairn_contract.errors import ConfigError

KEY_BYTES = 32
NONCE_BYTES = 12
ENV = "CAIRN_AUTOMATIONS_SECRET_KEY"


class SealError(Exception):
    """A sealed value that does not open with this key and associated data."""


def new_key() -> str:
    """A fresh key in the form ``CAIRN_AUTOMATIONS_SECRET_KEY`` takes (urlsafe base64)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


class SecretBox:
    def __init__(self, key: str) -> None:
        try:
            raw = base64.urlsafe_b64decode(key.encode())
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"{ENV} is not base64: {exc}", field=ENV) from exc
        if len(raw) != KEY_BYTES:
            raise ConfigError(
                f"{ENV} must be {KEY_BYTES} bytes in urlsafe base64, got {len(raw)} bytes",
                field=ENV,
            )
        self._aead = AESGCM(raw)

    def seal(self, secret: str, bound_to: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret.encode(), bound_to.encode())

    def open(self, sealed: bytes, bound_to: str) -> str:
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, bound_to.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise SealError(f"the sealed secret does not open for {bound_to!r}") from exc


def box_from(key: str) -> SecretBox | None:
    """The box for a configured key; ``None`` when the setting is empty."""
    return SecretBox(key) if key else None
