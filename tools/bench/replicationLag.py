"""Replication lag under a steady write load, measured on a web server with the app's own credentials.

Inserts rows through the writer endpoint at a fixed rate and, for each, polls the reader
endpoint until the row is visible. Prints one JSON object: the lag of every write in ms, and how
long each commit (an autocommitted INSERT, from sending it to its acknowledgement) took in ms.
Usage: python3 replicationLag.py WRITES PER_SECOND
"""
import json
import sys
import time
import uuid

import pymysql


def settings(path):
    values = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            values[key] = value.strip('"')
    return values


def main():
    writes, rate = int(sys.argv[1]), float(sys.argv[2])
    env = {**settings("/etc/foobar/foobar.env"), **settings("/etc/foobar/app.env")}
    connect = lambda host: pymysql.connect(host=host, user=env["DB_USER"], password=env["DB_PASSWORD"], database=env["DB_NAME"], autocommit=True)
    writer, reader = connect(env["DB_WRITER_HOST"]), connect(env["DB_READER_HOST"])
    lags = []
    commits = []
    start = time.monotonic()
    for i in range(writes):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        body = f"bench {uuid.uuid4()}"
        sent = time.monotonic()
        with writer.cursor() as cur:
            cur.execute("INSERT INTO entries (body, served_by) VALUES (%s, 'bench')", (body,))
        committed = time.monotonic()
        commits.append((committed - sent) * 1000)
        deadline = committed + 10
        with reader.cursor() as cur:
            while True:
                cur.execute("SELECT 1 FROM entries WHERE body = %s", (body,))
                if cur.fetchone() or time.monotonic() > deadline:
                    break
        lags.append((time.monotonic() - committed) * 1000)
    print(json.dumps({"lagsMs": lags, "commitsMs": commits}))


if __name__ == "__main__":
    main()
