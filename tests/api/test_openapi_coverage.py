"""The OpenAPI document describes every /api route, with real error bodies, so the
schemathesis fuzz test (test_fuzz.py) reaches all of them."""

from __future__ import annotations

import re

# Not API operations: the document itself and its HTML viewer.
NOT_OPERATIONS = {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/assets/<name>"}


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule)


def test_every_api_route_is_documented(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    routes = {(openapi_path(rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
              and rule.rule not in NOT_OPERATIONS
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in spec["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")}
    assert routes - documented == set()
    assert documented - routes == set()
    assert ("/api/v1/attachments/{attachment_id}", "get") in documented
    assert ("/api/v1/inbound-mail", "post") in documented


def test_errors_are_documented_with_their_body_and_no_catch_all(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            assert "default" not in responses, (method, path)
            errors = {code: r for code, r in responses.items() if code.startswith(("4", "5"))}
            assert "401" in errors, (method, path)
            for code, response in errors.items():
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, code)
    error = spec["components"]["schemas"]["ErrorDetailOut"]
    assert set(error["required"]) == {"code", "message"} and "fields" in error["properties"]


def test_integer_ids_in_paths_are_bounded(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    [param] = spec["paths"]["/api/v1/attachments/{attachment_id}"]["parameters"]
    assert param["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
