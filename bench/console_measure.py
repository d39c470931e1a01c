#!/usr/bin/env python3
"""Times console pages with a logged-in client (issue 26): each page asked WARM times first,
then RUNS times one after another; prints p50, p95 and the slowest in milliseconds, one line
per page, as a Markdown table row. Python's standard library only.

    console_measure.py BASE USERNAME PASSWORD PAGES_FILE [RUNS]

PAGES_FILE has one page per line: `GET /path` or `POST /path field=value&field=value` (the CSRF
token is added). The first log-in of the account sets up its sign-in code (the key the page
shows), as a person with an authenticator app would.
"""

import base64
import hashlib
import hmac
import http.cookiejar
import re
import struct
import sys
import time
import urllib.parse
import urllib.request

WARM = 3


def totp(secret: str, at: float) -> str:
    key = base64.b32decode(secret.replace(" ", "").upper() + "=" * (-len(secret.replace(" ", "")) % 8))
    counter = struct.pack(">Q", int(at) // 30)
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


class Client:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=120) as response:
            return response.read().decode()

    def post(self, path: str, fields: dict) -> str:
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base + path, data=data, timeout=120) as response:
            return response.read().decode()

    @staticmethod
    def csrf(page: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        if not found:
            raise SystemExit("no CSRF token on the page")
        return found.group(1)

    def log_in(self, username: str, password: str, secret_file: str):
        page = self.get("/login")
        page = self.post("/login", {"username": username, "password": password, "csrf": self.csrf(page)})
        if "Your sign-in code" in page or "sign-in code" in page:
            shown = re.search(r'id="secret" class="pre">([^<]+)<', page)
            if shown:
                secret = shown.group(1).strip()
                with open(secret_file, "w") as out:
                    out.write(secret)
            else:
                with open(secret_file) as saved:
                    secret = saved.read().strip()
            # A code is taken once: wait for a fresh step if this one is nearly over.
            if 30 - time.time() % 30 < 3:
                time.sleep(4)
            page = self.post("/login/code", {"code": totp(secret, time.time()), "csrf": self.csrf(page), "next": "/"})
        if "Log out" not in page:
            raise SystemExit("log-in failed:\n" + page[:2000])


def main():
    base, username, password, pages_file = sys.argv[1:5]
    runs = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    client = Client(base)
    client.log_in(username, password, pages_file + ".secret")
    token = client.csrf(client.get("/"))
    for line in open(pages_file):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(" ", 2)
        method, path = parts[0], parts[1]
        fields = dict(urllib.parse.parse_qsl(parts[2], keep_blank_values=True)) if len(parts) > 2 else {}
        label = line if len(line) < 90 else line[:87] + "..."
        timings = []
        for index in range(WARM + runs):
            started = time.perf_counter()
            if method == "GET":
                body = client.get(path)
            else:
                body = client.post(path, {**fields, "csrf": token})
            elapsed = (time.perf_counter() - started) * 1000
            if index >= WARM:
                timings.append(elapsed)
        if "That did not work" in body or "Not allowed" in body:
            raise SystemExit(f"{line}: the page is an error:\n{body[:3000]}")
        timings.sort()
        p50 = timings[len(timings) // 2]
        p95 = timings[min(len(timings) - 1, int(round(len(timings) * 0.95)) - 1)]
        verdict = "met" if p95 < 100 else "**not met**"
        print(f"| `{label}` | {p50:.1f} | {p95:.1f} | {timings[-1]:.1f} | {len(body) // 1024} KB | {verdict} |", flush=True)


if __name__ == "__main__":
    main()
