"""The local API holds a burst: every client gets an answer, none a reset connection."""

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.helpers import USER_AGENT


def test_a_hundred_parallel_clients_all_get_answers(local_api, api, token):
    def call(index: int) -> int:
        # A fresh connection per client, as 100 separate clients would open.
        with requests.Session() as session:
            path = "/auth/login" if index % 5 == 0 else "/"
            if path == "/":
                response = session.get(
                    local_api + path,
                    headers={"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT},
                    timeout=120,
                )
            else:
                response = session.post(
                    local_api + path,
                    json={"email": f"nobody-{index}@example.com", "password": "x" * 12},
                    headers={"User-Agent": USER_AGENT},
                    timeout=120,
                )
            return response.status_code

    with ThreadPoolExecutor(max_workers=100) as pool:
        statuses = list(pool.map(call, range(100)))
    assert statuses.count(200) == 80
    assert statuses.count(401) == 20
