"""Plain HTTP to the ClickHouse endpoint, so tests see exactly what any SQL client would."""

from __future__ import annotations

import base64
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    status: int
    code: int  # X-ClickHouse-Exception-Code, 0 on success
    body: str


def run_sql(
    host: str, port: int, user: str, password: str, statement: str, **params: str
) -> Answer:
    query = urllib.parse.urlencode({f"param_{k}": v for k, v in params.items()})
    request = urllib.request.Request(
        f"http://{host}:{port}/?{query}", data=statement.encode(), method="POST"
    )
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (http, 127.0.0.1)
            return Answer(response.status, 0, response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:
        code = int(error.headers.get("X-ClickHouse-Exception-Code", "0") or 0)
        return Answer(error.code, code, error.read().decode("utf-8", "replace"))
