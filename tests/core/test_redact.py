"""redact() on realistic secrets and on text that must survive: the one redaction the
providers (what a server echoed) and the store (what is persisted) both use."""

from __future__ import annotations

import pytest

from desktop.core.redact import redact

SECRETS = [
    # (text containing a secret, the secret)
    ("Incorrect API key provided: sk-proj-4fGh7Jk9Lm2Np5Qr8St1Uv3Wx6Yz0Ab. You can find your API key at",
     "sk-proj-4fGh7Jk9Lm2Np5Qr8St1Uv3Wx6Yz0Ab"),
    ("invalid x-api-key sk-ant-api03-Zq8vT3xY1bN6mK2pL9wR4sD7fG0hJ5cV-abcDEF_ghiJKL-123456AA",
     "sk-ant-api03-Zq8vT3xY1bN6mK2pL9wR4sD7fG0hJ5cV-abcDEF_ghiJKL-123456AA"),
    ('{"error":{"message":"No auth credentials found","code":401}} key=sk-or-v1-'
     + "a1" * 32, "sk-or-v1-" + "a1" * 32),
    ("legacy sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH rejected",
     "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"),
    ("Authorization: Bearer "
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("curl -H 'Authorization: Bearer gsk_live_9f8e7d6c5b4a39281726354' https://api.groq.com",
     "gsk_live_9f8e7d6c5b4a39281726354"),
    ('request failed: {"api_key": "my-very-own-proxy-secret", "model": "gpt-4o"}', "my-very-own-proxy-secret"),
    ("GET https://generativelanguage.googleapis.com/v1/models?key=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY&alt=sse",
     "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"),
    ("token: 3f786850e387550fdab836ed7e6dc881de23001b", "3f786850e387550fdab836ed7e6dc881de23001b"),
    ("access_token=ya29.a0AfH6SMBx-not-a-real-token_value", "ya29.a0AfH6SMBx-not-a-real-token_value"),
    ("x-api-key: hunter2hunter2", "hunter2hunter2"),
    ("github said ghp_1234567890abcdefghijABCDEFGHIJ123456 is revoked", "ghp_1234567890abcdefghijABCDEFGHIJ123456"),
    ("hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345 expired", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345"),
    ("secret blob QWxhZGRpbjpvcGVuIHNlc2FtZQ9aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3 here",
     "QWxhZGRpbjpvcGVuIHNlc2FtZQ9aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3"),
    ("password = 'correct horse'", "correct"),
    # formats only the providers' copy used to know
    ("together said tgp_v1_Zx8yW7vU6tS5rQ4pO3nM2lK1 is invalid", "Zx8yW7vU6tS5rQ4pO3nM2lK1"),
    ("cerebras csk-ab12cd34ef56gh78ij90kl is revoked", "ab12cd34ef56gh78ij90kl"),
    ("opaque 9x8w7v6u5t4s3r2q1p0onmlkjihgfedcbazyxwvuts rejected", "9x8w7v6u5t4s3r2q1p0onmlkjihgfedcbazyxwvuts"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_secrets_are_removed(text, secret):
    out = redact(text)
    assert secret not in out
    assert "[redacted]" in out


@pytest.mark.parametrize(
    "text",
    [
        "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000.",
        "model 'llama3.2' not found, try pulling it first",
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens.",
        "Your credit balance is too low to access the Anthropic API.",
        "Overloaded",
        "claude-3-5-sonnet-20241022 is not available",
        "openai/gpt-4o-mini via OpenRouter",
        "model NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO not found",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo is overloaded",
        "request id req_8a7b6c5d4e3f and a path /v1/chat/completions",
        "the max_tokens value is too large",
        "",
    ],
)
def test_ordinary_error_text_survives(text):
    assert redact(text) == text


def test_prefix_kept_so_the_user_knows_which_key():
    out = redact("bad key sk-ant-api03-Zq8vT3xY1bN6mK2pL9wR4sD7fG0hJ5cV")
    assert out == "bad key sk-ant-api03-[redacted]"


def test_idempotent_and_none():
    once = redact(SECRETS[4][0])
    assert redact(once) == once
    assert redact(None) == ""


def test_the_key_a_provider_holds_is_removed_whatever_its_shape():
    key = "plainpassword4proxy"
    out = redact(f"LiteLLM: key {key} not allowed for this team", secrets=[key, None, ""])
    assert key not in out and "[redacted]" in out


def test_one_redact_for_every_layer():
    """The store and the providers import the core's function; no second copy remains."""
    import importlib.util

    from desktop.core import redact as core
    from desktop.providers import classify
    from desktop.storage import columns

    assert classify.redact is core.redact and columns.redact is core.redact
    assert importlib.util.find_spec("desktop.storage.redact") is None
