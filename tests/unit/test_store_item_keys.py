"""Every item's keys are spelled in one place, as the table's layout says."""

from gatekey.store import item_keys


def test_each_item_has_the_documented_keys():
    assert item_keys.account("a") == {"pk": "ACCOUNT#a", "sk": "ACCOUNT"}
    assert item_keys.user("u") == {"pk": "USER#u", "sk": "USER"}
    assert item_keys.user_index("u", "a") == {"gsi1pk": "ACCOUNT#a#USERS", "gsi1sk": "USER#u"}
    assert item_keys.email_claim("e@x", "a") == {"pk": "EMAIL#e@x", "sk": "ACCOUNT#a"}
    assert item_keys.session("s") == {"pk": "SESSION#s", "sk": "SESSION"}
    assert item_keys.session_index("u", 42, "s") == {
        "gsi1pk": "USER#u#SESSIONS",
        "gsi1sk": "000000000042#s",
    }
    assert item_keys.api_key("k") == {"pk": "APIKEY#k", "sk": "KEY"}
    assert item_keys.key_handle("u", "ci") == {"pk": "USER#u", "sk": "KEY#ci"}
    assert item_keys.revocation("r") == {"pk": "REVOKED#r", "sk": "REVOKED"}
    assert item_keys.login_failures("e@x") == {"pk": "LOGINFAIL#e@x", "sk": "LOGINFAIL"}
    assert item_keys.reset_token("h") == {"pk": "RESET#h", "sk": "RESET"}
    assert item_keys.audit_event("a", 7, "i") == {"pk": "AUDIT#a", "sk": "000000000007#i"}
    assert item_keys.placeholder("d") == {"pk": "AUDIT#-", "sk": "d"}


def test_an_email_claims_sort_key_names_its_account():
    claim = item_keys.email_claim("e@x", "acct-1")
    assert item_keys.account_of_email_claim(claim["sk"]) == "acct-1"


def test_a_key_goes_on_the_wire_as_string_attributes():
    assert item_keys.wire(item_keys.api_key("k")) == {"pk": {"S": "APIKEY#k"}, "sk": {"S": "KEY"}}
