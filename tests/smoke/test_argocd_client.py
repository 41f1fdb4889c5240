"""The Argo CD client against the HTTP double: parameters, auth, and error classes."""

from __future__ import annotations

import pytest

from resources.argocd import (
    ArgoCDAppNotFound,
    ArgoCDAuthError,
    ArgoCDClient,
    ArgoCDConfigError,
    ArgoCDPermissionDenied,
    ArgoCDSettings,
    ArgoCDUnavailable,
)
from tests.doubles.argocd import app_status

REV = "a" * 40


def client_for(double, **overrides) -> ArgoCDClient:
    return ArgoCDClient(ArgoCDSettings.from_env(double.env(**overrides)))


def test_get_application_sends_bearer_refresh_and_namespace(argocd):
    argocd.set_app("api", app_status(revision=REV), namespace="apps")
    with client_for(argocd) as client:
        app = client.get_application("api", "normal", app_namespace="apps")
    assert app["metadata"]["name"] == "api"
    assert app["status"]["sync"]["revision"] == REV
    request = argocd.requests[-1]
    assert request.path == "/api/v1/applications/api"
    assert request.query == {"refresh": "normal", "appNamespace": "apps"}
    assert request.authorized


def test_no_refresh_when_none(argocd):
    argocd.set_app("api", app_status(revision=REV))
    with client_for(argocd) as client:
        client.get_application("api", None)
    assert "refresh" not in argocd.requests[-1].query


def test_default_app_namespace_from_env(argocd):
    argocd.set_app("api", app_status(revision=REV), namespace="apps")
    with client_for(argocd, ARGOCD_APP_NAMESPACE="apps") as client:
        client.get_application("api")
    assert argocd.requests[-1].query["appNamespace"] == "apps"


def test_wrong_token_is_an_auth_error_without_the_token(argocd):
    argocd.set_app("api", app_status(revision=REV))
    secret = "wrong-token-with-secret-bits-42"
    with client_for(argocd, ARGOCD_TOKEN=secret) as client:
        with pytest.raises(ArgoCDAuthError) as info:
            client.get_application("api")
    assert "401" in str(info.value) and "invalid session" in str(info.value)
    assert secret not in str(info.value) and secret not in repr(client.settings)
    assert info.value.retryable is False


def test_unknown_app_is_permission_denied_as_argocd_answers(argocd):
    with client_for(argocd) as client:
        with pytest.raises(ArgoCDPermissionDenied) as info:
            client.get_application("nope")
    assert "403" in str(info.value) and "does not exist" in str(info.value)


def test_unknown_app_with_project_is_not_found(argocd):
    with client_for(argocd) as client:
        with pytest.raises(ArgoCDAppNotFound) as info:
            client.get_application("nope", project="default")
    assert "404" in str(info.value)


def test_app_in_another_namespace_is_denied(argocd):
    argocd.set_app("api", app_status(revision=REV), namespace="apps")
    with client_for(argocd) as client:
        with pytest.raises(ArgoCDPermissionDenied):
            client.get_application("api", app_namespace="other")


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_are_retryable(argocd, status):
    argocd.set_app("api", app_status(revision=REV))
    argocd.fail_next(1, status)
    with client_for(argocd) as client:
        with pytest.raises(ArgoCDUnavailable) as info:
            client.get_application("api")
        assert info.value.retryable
        assert client.get_application("api")["metadata"]["name"] == "api"


def test_slow_answer_times_out_as_retryable(argocd):
    argocd.set_app("api", app_status(revision=REV))
    argocd.delay = 0.5
    with client_for(argocd) as client:
        with pytest.raises(ArgoCDUnavailable, match="no answer within"):
            client.get_application("api", timeout_seconds=0.1)


def test_unreachable_server_is_retryable():
    settings = ArgoCDSettings(url="http://127.0.0.1:9", token="t")
    with ArgoCDClient(settings) as client:
        with pytest.raises(ArgoCDUnavailable, match="cannot reach"):
            client.get_application("api", timeout_seconds=1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "ARGOCD_URL and ARGOCD_TOKEN not set"),
        ({"ARGOCD_URL": "http://127.0.0.1:1"}, "ARGOCD_TOKEN not set"),
        ({"ARGOCD_URL": "ftp://argocd", "ARGOCD_TOKEN": "t"}, "http(s) URL"),
        ({"ARGOCD_URL": "https://user:pw@argocd", "ARGOCD_TOKEN": "t"}, "credentials"),
        ({"ARGOCD_URL": "not a url", "ARGOCD_TOKEN": "t"}, "http(s) URL"),
        ({"ARGOCD_URL": "https://argocd:abc", "ARGOCD_TOKEN": "t"}, "invalid port"),
        ({"ARGOCD_URL": "https://argocd:99999", "ARGOCD_TOKEN": "t"}, "invalid port"),
        ({"ARGOCD_URL": "admin:hunter2@argocd.example", "ARGOCD_TOKEN": "t"}, "credentials"),
    ],
)
def test_bad_configuration_is_a_config_error(env, message):
    with pytest.raises(ArgoCDConfigError) as info:
        ArgoCDSettings.from_env(env)
    assert message in str(info.value)
    assert "hunter2" not in str(info.value)  # the message can become evidence


def test_invalid_app_name_is_refused_before_sending(argocd):
    with client_for(argocd) as client:
        with pytest.raises(ArgoCDConfigError):
            client.get_application("../secrets")
    assert argocd.requests == []
