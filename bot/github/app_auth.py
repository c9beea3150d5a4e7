"""The GitHub App's own credential: a JWT signed with its private key, the key parsed once.

Given the key as PEM text, PyJWT parses it for every signature, and the RSA key check that
parsing does costs about 50 ms of CPU: each installation token minted and each process's
first app request paid it. Here the key is parsed on first use and kept, and a JWT is
reused until shortly before it expires, as gidgethub's own API keeps its app JWT. The
claims are gidgethub's (``apps.get_jwt``): issued a minute back for clock drift, nine
minutes of life (GitHub allows ten), issuer the App's id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

CLOCK_SKEW = 60  # seconds the issue time is put back
LIFETIME = 9 * 60  # seconds a JWT is valid from its issue time
REFRESH_AFTER = 7 * 60  # seconds after minting when a new one is made


class AppAuth:
    """Signs the App's JWTs; wall-clock time (``clock``), as GitHub judges them."""

    def __init__(
        self, app_id: str, private_key: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.app_id = app_id
        self._pem = private_key
        self._clock = clock
        self._key: RSAPrivateKey | None = None
        self._jwt: str | None = None
        self._refresh_at = 0.0
        self._lock = threading.Lock()  # the key may be first used from two threads

    def jwt(self) -> str:
        """A valid app JWT (a new one every ``REFRESH_AFTER`` seconds). A key that is not
        a PEM private key raises here, as PyJWT did when handed the text."""
        now = self._clock()
        with self._lock:
            if self._jwt is None or now >= self._refresh_at:
                if self._key is None:
                    key = load_pem_private_key(self._pem.encode(), password=None)
                    if not isinstance(key, RSAPrivateKey):  # GitHub Apps sign with RS256
                        raise ValueError("the GitHub App's private key is not an RSA key")
                    self._key = key
                issued = int(now) - CLOCK_SKEW
                claims = {"iat": issued, "exp": issued + LIFETIME, "iss": self.app_id}
                self._jwt = jwt.encode(claims, self._key, algorithm="RS256")
                self._refresh_at = now + REFRESH_AFTER
            return self._jwt
