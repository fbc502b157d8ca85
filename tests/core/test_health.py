from __future__ import annotations


def test_health_reports_database_jobs_and_routing(client, app):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["jobs"] == ("redis" if app.config["HELPDESK"].redis_url else "inline")
    assert body["routing"].startswith("ok")


def test_health_is_503_naming_the_database_when_it_is_unreachable(make_app, tmp_path):
    broken = make_app(database_url="sqlite:////nonexistent-dir/unreachable.db", instance_path=tmp_path)
    resp = broken.test_client().get("/healthz")
    from helpdesk.extensions import db

    with broken.app_context():
        db.engine.dispose()  # close the failed pool now, not at interpreter exit
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unavailable" and body["database"].startswith("unavailable")
