"""The foobar application: shows which web server answered and what the
database tier is doing. Writes go to the primary (the writer endpoint), reads
to a replica (the reader endpoint) with a fall-back to the primary.

Settings come from the environment (systemd EnvironmentFile):
SITE_NAME, DB_WRITER_HOST, DB_READER_HOST, DB_NAME, DB_USER, DB_PASSWORD.
"""
import os
import socket

import pymysql
from flask import Flask, jsonify, redirect, render_template, request, url_for

app = Flask(__name__)

HOST = socket.gethostname()
MAX_ENTRY_LENGTH = 280
CONNECT_TIMEOUT_SECONDS = 2


class DatabaseUnavailable(Exception):
    pass


def settings(name):
    return os.environ.get(name, "")


def connect(host):
    return pymysql.connect(
        host=host,
        user=settings("DB_USER"),
        password=settings("DB_PASSWORD"),
        database=settings("DB_NAME"),
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=5,
        write_timeout=5,
        autocommit=True,
        cursorclass=pymysql.cursors.DictCursor,
    )


def read_connection():
    """A connection for reads: the reader endpoint, else the writer."""
    errors = []
    for role, host in (("replica", settings("DB_READER_HOST")), ("primary", settings("DB_WRITER_HOST"))):
        try:
            return role, host, connect(host)
        except pymysql.MySQLError as err:
            errors.append(f"{role} {host}: {err}")
    raise DatabaseUnavailable("; ".join(errors))


def recent_entries(limit=20):
    role, host, conn = read_connection()
    with conn:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id, body, served_by, created_at FROM entries ORDER BY id DESC LIMIT %s",
                (limit,),
            )
            return role, host, cur.fetchall()


def replica_lag(conn):
    with conn.cursor() as cur:
        cur.execute("SHOW SLAVE STATUS")
        row = cur.fetchone()
    if not row:
        return None
    return {
        "ioRunning": row.get("Slave_IO_Running"),
        "sqlRunning": row.get("Slave_SQL_Running"),
        "secondsBehind": row.get("Seconds_Behind_Master"),
        "gtidPosition": row.get("Gtid_IO_Pos"),
    }


@app.get("/healthz")
def healthz():
    # Local on purpose: a database outage must not take every web server out of the load balancer.
    return {"status": "ok", "host": HOST}


@app.get("/")
def index():
    try:
        role, db_host, entries = recent_entries()
        error = None
    except DatabaseUnavailable as err:
        role, db_host, entries, error = None, None, [], str(err)
    return render_template(
        "index.html",
        site=settings("SITE_NAME"),
        host=HOST,
        read_from=role,
        db_host=db_host,
        entries=entries,
        error=error,
        max_length=MAX_ENTRY_LENGTH,
    ), (200 if error is None else 503)


def insert_entry(body):
    body = (body or "").strip()
    if not body or len(body) > MAX_ENTRY_LENGTH:
        return None, (f"an entry needs 1 to {MAX_ENTRY_LENGTH} characters", 400)
    try:
        conn = connect(settings("DB_WRITER_HOST"))
    except pymysql.MySQLError as err:
        return None, (f"writes are unavailable: the primary database ({settings('DB_WRITER_HOST')}) does not answer: {err}", 503)
    with conn:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO entries (body, served_by) VALUES (%s, %s)", (body, HOST))
            return cur.lastrowid, None


@app.post("/entries")
def post_entry_form():
    _, failure = insert_entry(request.form.get("body"))
    if failure:
        message, status = failure
        return render_template("error.html", site=settings("SITE_NAME"), host=HOST, message=message), status
    return redirect(url_for("index"), code=303)


@app.post("/api/entries")
def post_entry_json():
    payload = request.get_json(silent=True) or {}
    entry_id, failure = insert_entry(payload.get("body"))
    if failure:
        message, status = failure
        return jsonify(error=message, host=HOST), status
    return jsonify(id=entry_id, host=HOST), 201


@app.get("/api/entries")
def get_entries():
    try:
        role, db_host, entries = recent_entries(int(request.args.get("limit", 20)))
    except DatabaseUnavailable as err:
        return jsonify(error=f"reads are unavailable: {err}", host=HOST), 503
    for e in entries:
        e["created_at"] = e["created_at"].isoformat()
    return jsonify(host=HOST, readFrom=role, database=db_host, entries=entries)


@app.get("/api/status")
def status():
    database = {"writer": settings("DB_WRITER_HOST"), "reader": settings("DB_READER_HOST")}
    try:
        role, db_host, conn = read_connection()
        with conn:
            database["readFrom"] = role
            database["replication"] = replica_lag(conn) if role == "replica" else None
    except DatabaseUnavailable as err:
        database["readFrom"] = None
        database["error"] = str(err)
    lag = (database.get("replication") or {}).get("secondsBehind")
    database["replicaLagSeconds"] = lag
    return jsonify(host=HOST, site=settings("SITE_NAME"), database=database)
