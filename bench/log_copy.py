"""What binary COPY saves the prediction log over text COPY on PostgreSQL: CPU per row of the
writer (this process) and of the server (its backend process), for 200,000 rows in batches of
2,000 as the log writer sends them, into a database made for the run and dropped after.

    python bench/log_copy.py [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np

from modelserve.monitoring import log
from modelserve.monitoring.database import Database
from modelserve.monitoring.wire import COLUMNS, FRAME, Served, Timestamps, decode, encode

BATCHES, BATCH_ROWS = 100, 2000
SERVER = "postgresql://postgres@127.0.0.1:5432"


def batches() -> list[list[tuple]]:
    rng = np.random.default_rng(0)
    out = []
    for number in range(BATCHES):
        served = [
            Served(
                f"{number * BATCH_ROWS + i:032x}", "v1", "diabetes", 1, time.time(),
                rng.uniform(0, 200, (1, 8)).astype(np.float32), np.array([[0.5]], np.float32), 0.5,
            )
            for i in range(BATCH_ROWS)
        ]  # fmt: skip
        out.append(decode(encode(served, number)[FRAME.size :], Timestamps("postgresql")))
    return out


def as_text(rows: list[tuple]) -> list[tuple]:
    """Rows as the log's text COPY took them: times as ISO 8601 text, formatted beforehand."""
    return [(*row[:2], row[2].isoformat(), *row[3:]) for row in rows]


def text_copy(cursor, table: str, rows: list[tuple]) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    name = f"modelserve_copy_{uuid.uuid4().hex[:8]}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    try:
        engine = Database(f"{SERVER}/{name}").engine()
        rows = {"binary": batches()}
        rows["text"] = [as_text(batch) for batch in rows["binary"]]
        measured: dict[str, list[tuple[float, float]]] = {"text": [], "binary": []}
        for _ in range(args.reps):
            for kind, copy in (("text", text_copy), ("binary", log._copy)):
                with engine.begin() as connection:
                    connection.exec_driver_sql("TRUNCATE predictions")
                with engine.connect() as connection:
                    raw = connection.connection.driver_connection
                    backend = raw.info.backend_pid
                    server, client = cpu_seconds(backend), time.process_time()
                    for batch in rows[kind]:
                        with raw.cursor() as cursor:
                            copy(cursor, "predictions", batch)
                        raw.commit()
                    server = cpu_seconds(backend) - server
                    client = time.process_time() - client
                measured[kind].append((server, client))
        engine.dispose()
    finally:
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    per_row = 1e6 / (BATCHES * BATCH_ROWS)
    for kind, runs in measured.items():
        server = statistics.median(s for s, _ in runs) * per_row
        client = statistics.median(c for _, c in runs) * per_row
        print(f"{kind:6s} COPY: server {server:.2f} µs a row, writer {client:.2f} µs a row")


if __name__ == "__main__":
    main()
