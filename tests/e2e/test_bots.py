import uuid

from tests.e2e.conftest import error_code


def test_admin_creates_a_bot_whose_token_works(api, admin):
    token = api.login(admin)["access_token"]
    response = api.post("/account/bots", token=token, json={"name": "nightly"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["bot"]["is_bot"] is True
    assert body["bot"]["account_id"] == admin.account_id
    assert body["token"].startswith("gk_")
    me = api.get("/user", headers={"Authorization": body["token"]})
    assert me.status_code == 200
    assert me.json()["id"] == body["bot"]["id"]
    assert me.json()["is_bot"] is True


def test_members_may_not_manage_bots(api, user, token):
    for method, path in (
        ("post", "/account/bots"),
        ("get", "/account/bots"),
        ("delete", f"/account/bots/{uuid.uuid4()}"),
        ("post", f"/account/bots/{uuid.uuid4()}/token"),
    ):
        response = getattr(api, method)(path, token=token, json={"name": "x"})
        assert response.status_code == 403, (method, path)
        assert error_code(response) == "permission_denied"


def test_list_delete_and_regenerate(api, admin):
    token = api.login(admin)["access_token"]
    first = api.post("/account/bots", token=token, json={"name": "one"}).json()
    second = api.post("/account/bots", token=token, json={"name": "two"}).json()
    listed = api.get("/account/bots", token=token).json()["bots"]
    assert {bot["id"] for bot in listed} == {first["bot"]["id"], second["bot"]["id"]}
    assert all("token" not in bot for bot in listed)

    regenerated = api.post(f"/account/bots/{first['bot']['id']}/token", token=token)
    assert regenerated.status_code == 200
    new_token = regenerated.json()["token"]
    assert api.get("/user", headers={"Authorization": first["token"]}).status_code == 401
    assert api.get("/user", headers={"Authorization": new_token}).status_code == 200

    assert api.delete(f"/account/bots/{second['bot']['id']}", token=token).status_code == 204
    assert api.get("/user", headers={"Authorization": second["token"]}).status_code == 401
    remaining = api.get("/account/bots", token=token).json()["bots"]
    assert [bot["id"] for bot in remaining] == [first["bot"]["id"]]


def test_admins_see_only_their_own_accounts_bots(api, admin):
    from tests.helpers import make_user

    token = api.login(admin)["access_token"]
    bot = api.post("/account/bots", token=token, json={"name": "mine"}).json()["bot"]
    other_admin = api.login(make_user(admin=True))["access_token"]
    assert api.get("/account/bots", token=other_admin).json() == {"bots": []}
    assert api.delete(f"/account/bots/{bot['id']}", token=other_admin).status_code == 404
