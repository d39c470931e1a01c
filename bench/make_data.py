#!/usr/bin/env python3
"""Makes the benchmark inputs from the UT1 lists, deterministically (fixed seed).

    make_data.py UT1_FOLDER OUT_FOLDER [URL_COUNT] [SYNTHETIC_DOMAINS]

Writes to OUT_FOLDER:
  urls.txt          URL_COUNT URLs, one per line: 45% on listed domains (half with an extra
                    subdomain), 5% under listed URL prefixes, 50% on unlisted domains; random paths.
  squidguard.txt    the same URLs in squidGuard's helper format (URL ip/fqdn ident method).
  synthetic.txt     SYNTHETIC_DOMAINS random domains, to grow an index to millions of domains.
"""
import os
import random
import sys

ut1, out = sys.argv[1], sys.argv[2]
url_count = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
synthetic_count = int(sys.argv[4]) if len(sys.argv) > 4 else 2_700_000
rng = random.Random(20261123)

domains, url_entries = [], []
for category in sorted(os.listdir(ut1)):
    for name, bucket in (("domains", domains), ("urls", url_entries)):
        path = os.path.join(ut1, category, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                bucket.extend(line.strip() for line in f if line.strip() and not line.startswith("#"))

letters = "abcdefghijklmnopqrstuvwxyz0123456789"
tlds = ["com", "org", "net", "co.uk", "fr", "de", "io", "info", "edu", "gov.uk"]


def word(low, high):
    return "".join(rng.choice(letters) for _ in range(rng.randint(low, high)))


def path():
    return "/" + "/".join(word(3, 10) for _ in range(rng.randint(0, 3)))


os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "urls.txt"), "w") as urls, open(os.path.join(out, "squidguard.txt"), "w") as sg:
    for _ in range(url_count):
        draw = rng.random()
        if draw < 0.45:
            host = rng.choice(domains)
            if rng.random() < 0.5:
                host = "www." + host
            url = "http://" + host + path()
        elif draw < 0.50:
            url = "http://" + rng.choice(url_entries) + path()
        else:
            url = "http://www." + word(5, 14) + "." + rng.choice(tlds) + path()
        urls.write(url + "\n")
        sg.write(url + " 10.0.0.1/- - GET\n")

with open(os.path.join(out, "synthetic.txt"), "w") as f:
    for _ in range(synthetic_count):
        f.write(word(4, 12) + "." + word(3, 12) + "." + rng.choice(tlds) + "\n")
