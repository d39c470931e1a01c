#!/usr/bin/env python3
"""Turns bench/console.sh's fill (statements after `--SEQ N` read a sequence `seq(n)`, 1…N)
into one database's SQL: SQLite's recursive common table expression, or PostgreSQL's
generate_series. Reads standard input, writes standard output.

    console_fill.py sqlite|postgres
"""

import re
import sys

backend = sys.argv[1]
text = sys.stdin.read()
out = []
if backend == "sqlite":
    out.append("PRAGMA journal_mode=WAL;\nPRAGMA synchronous=OFF;\nPRAGMA temp_store=MEMORY;\nPRAGMA cache_size=-1000000;")
statements = re.split(r"^--SEQ (\d+)\n", text, flags=re.M)
out.append(statements[0])
for count, statement in zip(statements[1::2], statements[2::2]):
    first, _, rest = statement.partition(";")
    if backend == "sqlite":
        head = f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {count})\n"
        out.append(head + first + ";" + rest)
    else:
        series = f"generate_series(1::bigint, {count}) AS seq(n)"
        out.append(re.sub(r"\bFROM seq\b", "FROM " + series, first) + ";" + rest)
out.append("ANALYZE;")
print("\n".join(out))
