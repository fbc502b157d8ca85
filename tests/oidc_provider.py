"""A real OpenID Connect provider for the tests, built with Authlib's server side.

A small Flask app served over HTTP on a free port (werkzeug ``make_server`` in a thread)
with Authlib's ``AuthorizationServer``, its authorization-code grant, PKCE
(``CodeChallenge``, S256 required) and the OpenID Connect ``OpenIDCode`` extension, which
signs the ID token (RS256, a key made for the run with joserfc — Authlib's own JOSE
library since ``authlib.jose`` was deprecated). It serves:

* ``/.well-known/openid-configuration`` (discovery), ``/jwks`` (the public key),
* ``/authorize``: no login form — it approves at once, as ``provider.user`` (with
  ``provider.user["groups"]``), and redirects back with a code,
* ``/token``: client secret (basic or post) + code + PKCE verifier → tokens and ID token,
* ``/logout``: RP-initiated logout (back to ``post_logout_redirect_uri``), counted.

The help desk talks to it over HTTP like to any provider. Tests make it misbehave the
way a broken or hostile provider would, through ``provider.misbehave``:
``audience`` (another aud), ``expired`` (exp in the past), ``replay_nonce`` (the nonce
of an earlier sign-in instead of this one's), ``foreign_key`` (signed with a key that is
not in the JWKS, under the published kid).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Error, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, redirect, request
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

KID = "test-key-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    scope: str = "openid email profile groups"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post") if endpoint == "token" else True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    user: dict[str, Any]
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd", "mfa"]


def default_user() -> dict[str, Any]:
    return {"sub": "u-1001", "email": "dana.reyes@riverside.example", "name": "Dana Reyes", "email_verified": True,
            "groups": ["hd-agents"]}


@dataclass
class Misbehaviour:
    audience: str | None = None
    expired: bool = False
    replay_nonce: bool = False
    foreign_key: bool = False

    def reset(self) -> None:
        self.audience, self.expired, self.replay_nonce, self.foreign_key = None, False, False, False


class TestProvider:
    """``TestProvider(client_id, client_secret, redirect_uri)``, then ``start()``; ``issuer``
    is its address. ``user`` is whom ``/authorize`` approves."""

    __test__ = False  # not a test class for pytest

    def __init__(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client = Client(client_id, client_secret, list(redirect_uris))
        self.key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig", "alg": "RS256"})
        self.foreign = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig", "alg": "RS256"})
        self.user: dict[str, Any] = default_user()
        self.misbehave = Misbehaviour()
        self.codes: dict[str, Code] = {}
        self.nonces: list[str] = []  # every nonce seen at /authorize, in order
        self.logouts: list[dict[str, str]] = []
        self.end_session = True  # advertise the RP-initiated logout endpoint
        self.tokens_issued = 0
        self.app = self._build()
        self._server = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ the Authlib server

    def _build(self) -> Flask:
        provider = self
        app = Flask("oidc-test-provider")
        server = AuthorizationServer(app, query_client=self._query_client, save_token=self._save_token)

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, req) -> None:
                data = req.payload.data
                provider.codes[code] = Code(
                    code=code, client_id=req.client.client_id, redirect_uri=req.payload.redirect_uri,
                    scope=req.scope, nonce=data.get("nonce"), code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"), user=dict(req.user))

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                item = provider.codes.get(code)
                return item if item is not None and item.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                provider.codes.pop(authorization_code.code, None)  # a code is used once

            def authenticate_user(self, authorization_code: Code) -> dict[str, Any]:
                return authorization_code.user

        class IdToken(OpenIDCode):
            def exists_nonce(self, nonce: str, req) -> bool:
                return False  # the relying party's job is what is tested here

            def resolve_client_private_key(self, client: Client):
                return provider.foreign if provider.misbehave.foreign_key else provider.key

            def get_client_algorithm(self, client: Client) -> str:
                return "RS256"

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": KID}

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                now = int(time.time())
                claims: dict[str, Any] = {"iss": provider.issuer, "aud": [client.get_client_id()], "iat": now,
                                          "exp": now + 300}
                if provider.misbehave.audience:
                    claims["aud"] = [provider.misbehave.audience]
                if provider.misbehave.expired:
                    claims["iat"], claims["exp"] = now - 3600, now - 1800
                return claims

            def get_authorization_code_claims(self, authorization_code: Code) -> dict[str, Any]:
                claims = super().get_authorization_code_claims(authorization_code)
                if provider.misbehave.replay_nonce and provider.nonces:
                    claims["nonce"] = provider.nonces[0]  # an earlier sign-in's nonce
                return claims

            def generate_user_info(self, user: dict[str, Any], scope: str) -> UserInfo:
                info = UserInfo(sub=user["sub"], name=user.get("name"))
                if "email" in scope:
                    info["email"] = user["email"]
                    info["email_verified"] = user.get("email_verified", True)
                info["groups"] = list(user.get("groups", []))
                return info

        server.register_grant(CodeGrant, [CodeChallenge(required=True), IdToken(require_nonce=True)])

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify({
                "issuer": provider.issuer,
                "authorization_endpoint": f"{provider.issuer}/authorize",
                "token_endpoint": f"{provider.issuer}/token",
                "jwks_uri": f"{provider.issuer}/jwks",
                **({"end_session_endpoint": f"{provider.issuer}/logout"} if provider.end_session else {}),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "scopes_supported": ["openid", "email", "profile", "groups"],
            })

        @app.get("/jwks")
        def jwks():
            return jsonify({"keys": [provider.key.as_dict(private=False)]})

        @app.get("/authorize")
        def authorize():
            nonce = request.args.get("nonce")
            if nonce:
                provider.nonces.append(nonce)
            user = dict(provider.user)
            try:
                grant = server.get_consent_grant(end_user=user)
            except OAuth2Error as error:
                return server.handle_error_response(None, error)
            return server.create_authorization_response(grant=grant, grant_user=user)

        @app.post("/token")
        def token():
            provider.tokens_issued += 1
            return server.create_token_response()

        @app.get("/logout")
        def logout():
            provider.logouts.append(request.args.to_dict())
            target = request.args.get("post_logout_redirect_uri") or provider.issuer
            return redirect(target)

        return app

    def _query_client(self, client_id: str) -> Client | None:
        return self.client if client_id == self.client.client_id else None

    def _save_token(self, token: dict[str, Any], req) -> None:
        pass  # no resource server here: the access token is not used again

    # ------------------------------------------------------------ serving

    def start(self) -> TestProvider:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        self.user = default_user()
        self.end_session = True
        self.misbehave.reset()
        self.codes.clear()
        self.nonces.clear()
        self.logouts.clear()

    def logout_query(self, **params: str) -> str:
        return f"{self.issuer}/logout?{urlencode(params)}"


def random_secret() -> str:
    return generate_token(40)


# ---------------------------------------------------------------- fixtures (imported by tests/conftest.py)

CLIENT_ID = "riverside-helpdesk"
PROVIDER_NAME = "Riverside ID"
ROLE_MAP = (("hd-agents", "agent"), ("hd-supervisors", "supervisor"), ("hd-admins", "admin"))
QUEUE_MAP = (("hd-billing", "billing"), ("hd-scheduling", "scheduling"), ("hd-records", "records"))
_SECRET = random_secret()


@pytest.fixture(scope="session")
def oidc_provider(settings) -> Iterator[TestProvider]:
    """One provider for the run, registered for the suite's EXTERNAL_URL callback."""
    provider = TestProvider(CLIENT_ID, _SECRET, [f"{settings.external_url}/login/sso/callback"]).start()
    yield provider
    provider.stop()


@pytest.fixture
def sso_on(oidc_provider: TestProvider, configure) -> Iterator[TestProvider]:
    """Single sign-on configured against the test provider (which behaves, and approves
    ``oidc_provider.user``, until the test says otherwise)."""
    from helpdesk.auth import sso_protocol

    oidc_provider.reset()
    sso_protocol.forget_provider()
    configure(oidc_issuer=oidc_provider.issuer, oidc_client_id=CLIENT_ID, oidc_client_secret=_SECRET,
              oidc_provider_name=PROVIDER_NAME, oidc_role_map=ROLE_MAP, oidc_queue_map=QUEUE_MAP)
    yield oidc_provider
    oidc_provider.reset()
    sso_protocol.forget_provider()
