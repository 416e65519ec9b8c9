"""A real OpenID Connect provider for the school-account tests: oidc-provider-mock, on 127.0.0.1.

It accepts any client and redirect address; its sign-in form asks for a subject, which becomes the
account's address (the `email` claim). Stopped when the context ends.
"""
from __future__ import annotations

import logging
import secrets
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def identity_provider(verified: list[str] = ()):
    """Yields the provider's base URL (http://127.0.0.1:PORT).

    verified: addresses whose account says the provider checked them (email_verified); any other subject
    typed into its form signs in with an unverified address."""
    import werkzeug.serving

    with warnings.catch_warnings():  # its authlib modules warn of their own future renames on import
        from authlib.deprecate import AuthlibDeprecationWarning  # which sets "always" for them: overruled

        warnings.simplefilter("ignore", AuthlibDeprecationWarning)
        from oidc_provider_mock import User, app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    users = [User(sub=address, claims={"email": address, "email_verified": True}) for address in verified]
    server = werkzeug.serving.make_server("127.0.0.1", 0, app(user_claims=users), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def write_auth_secrets(path: Path, app_url: str, provider_url: str) -> Path:
    """The [auth] section Streamlit's st.login reads, for this app and provider (addresses on one host)."""
    path.write_text(f"""[auth]
redirect_uri = "{app_url}/oauth2callback"
cookie_secret = "{secrets.token_hex(32)}"
client_id = "transfer-learning-studio"
client_secret = "{secrets.token_hex(16)}"
server_metadata_url = "{provider_url}/.well-known/openid-configuration"
""")
    return path
