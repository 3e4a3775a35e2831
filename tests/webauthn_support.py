"""A software passkey for tests without a browser: it answers the options a page offers the
way an authenticator and browser together would ("none" attestation, an ES256 key), so the
server's checks (challenge, origin, relying party, signature, counter, user verification) run
for real. The browser journeys use Chromium's virtual authenticator instead."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def options_in(page_html: str, action: str | None = None) -> str:
    """The data-options JSON of the page's passkey form (the one posting to action)."""
    for match in re.finditer(r"<form([^>]*data-passkey=[^>]*)>", page_html):
        attributes = match.group(1)
        if action and f'action="{action}"' not in attributes:
            continue
        return html.unescape(re.search(r'data-options="([^"]*)"', attributes).group(1))
    raise AssertionError(f"no passkey form{' for ' + action if action else ''} on the page")


class SoftPasskey:
    """One credential, for one origin."""

    def __init__(self, origin: str = "http://localhost", rp_id: str = "localhost"):
        self.origin, self.rp_id = origin, rp_id
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.sign_count = 0
        self.user_handle = b""

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def _client_data(self, kind: str, options: dict, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": options["challenge"],
                           "origin": origin or self.origin, "crossOrigin": False}).encode()

    def create(self, options_json: str, *, origin: str | None = None) -> str:
        """The browser's answer to navigator.credentials.create(options)."""
        options = json.loads(options_json)
        self.user_handle = unb64url(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options, origin)
        auth_data = (hashlib.sha256(self.rp_id.encode()).digest() + bytes([UP | UV | AT])
                     + self.sign_count.to_bytes(4, "big") + bytes(16)
                     + len(self.credential_id).to_bytes(2, "big") + self.credential_id
                     + self._cose_key())
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
            "type": "public-key", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client_data),
                         "attestationObject": b64url(attestation),
                         "transports": ["internal", "hybrid"]},
        })

    def get(self, options_json: str, *, verified: bool = True, origin: str | None = None) -> str:
        """The browser's answer to navigator.credentials.get(options)."""
        options = json.loads(options_json)
        allowed = [item["id"] for item in options.get("allowCredentials") or []]
        assert not allowed or b64url(self.credential_id) in allowed, "not offered this key"
        self.sign_count += 1
        client_data = self._client_data("webauthn.get", options, origin)
        auth_data = (hashlib.sha256(self.rp_id.encode()).digest()
                     + bytes([UP | (UV if verified else 0)])
                     + self.sign_count.to_bytes(4, "big"))
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
            "type": "public-key", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client_data),
                         "authenticatorData": b64url(auth_data),
                         "signature": b64url(signature),
                         "userHandle": b64url(self.user_handle)},
        })
