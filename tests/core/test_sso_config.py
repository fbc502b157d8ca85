"""Single sign-on settings (OIDC_*) are typed and checked at start-up."""

from __future__ import annotations

import pytest

from helpdesk.config import ConfigError, Settings

pytestmark = pytest.mark.pure

BASE = {"HELPDESK_ENV": "development", "OIDC_ISSUER": "https://login.riverside.example/realms/staff",
        "OIDC_CLIENT_ID": "helpdesk", "OIDC_CLIENT_SECRET": "s3cret-from-the-provider",
        "OIDC_ROLE_MAP": "HD-Agents=agent, HD-Supervisors=supervisor;HD-Admins=admin"}


def test_off_by_default():
    s = Settings.from_env({"HELPDESK_ENV": "development"})
    assert not s.sso_enabled and s.oidc_issuer is None and s.oidc_staff_local_passwords


def test_a_full_configuration_is_read():
    s = Settings.from_env({**BASE, "OIDC_QUEUE_MAP": "HD-Billing=billing,HD-Sched=scheduling",
                           "OIDC_PROVIDER_NAME": "Riverside ID", "OIDC_GROUPS_CLAIM": "roles",
                           "OIDC_STAFF_LOCAL_PASSWORDS": "false", "OIDC_SCOPES": "openid email profile groups"})
    assert s.sso_enabled and s.oidc_issuer == "https://login.riverside.example/realms/staff"
    assert s.oidc_role_map == (("HD-Agents", "agent"), ("HD-Supervisors", "supervisor"), ("HD-Admins", "admin"))
    assert s.oidc_queue_map == (("HD-Billing", "billing"), ("HD-Sched", "scheduling"))
    assert (s.oidc_provider_name, s.oidc_groups_claim, s.oidc_scopes) == ("Riverside ID", "roles",
                                                                          "openid email profile groups")
    assert s.oidc_staff_local_passwords is False


@pytest.mark.parametrize(("change", "message"), [
    ({"OIDC_ISSUER": ""}, "OIDC_ISSUER must be set when other OIDC_ settings are"),
    ({"OIDC_ISSUER": "login.riverside.example"}, "OIDC_ISSUER must be the provider's"),
    ({"OIDC_CLIENT_ID": ""}, "OIDC_CLIENT_ID must be set"),
    ({"OIDC_CLIENT_SECRET": ""}, "OIDC_CLIENT_SECRET must be set"),
    ({"OIDC_ROLE_MAP": ""}, "OIDC_ROLE_MAP must be set"),
    ({"OIDC_ROLE_MAP": "HD-Agents"}, "group=value pairs"),
    ({"OIDC_ROLE_MAP": "Everyone=patient"}, "must be one of agent, supervisor, admin"),
    ({"OIDC_QUEUE_MAP": "HD-Billing=Billing Team"}, "not a queue slug"),
    ({"OIDC_STAFF_LOCAL_PASSWORDS": "maybe"}, "OIDC_STAFF_LOCAL_PASSWORDS"),
    ({"OIDC_SCOPES": "email profile"}, "must include openid"),
    ({"OIDC_TIMEOUT": "0"}, "OIDC_TIMEOUT"),
])
def test_bad_values_fail_fast(change, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({**BASE, **change})


def test_production_needs_an_https_issuer(tmp_path):
    prod = {"HELPDESK_ENV": "production", "SECRET_KEY": "s" * 40, "HELPDESK_PHONE": "+1 212 555 0199",
            "EXTERNAL_URL": "https://help.example.org", "HELPDESK_INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(ConfigError, match="https"):
        Settings.from_env({**BASE, **prod, "OIDC_ISSUER": "http://login.riverside.example"})
    assert Settings.from_env({**BASE, **prod}).sso_enabled
