"""The foobar application: shows which web server answered and what the
database tier is doing. Writes go to the primary (the writer endpoint), reads
to a replica (the reader endpoint) with a fall-back to the primary.

Settings come from the environment (systemd EnvironmentFile):
SITE_NAME, DB_WRITER_HOST, DB_READER_HOST, DB_PORT, DB_NAME, DB_USER,
DB_PASSWORD, MAX_BODY_BYTES (nginx enforces the same limit), DB_SIDECAR
(haproxy: the endpoints are a Galera sidecar's).

Each worker keeps one connection per endpoint and reuses it. The answer to a
request never waits on the database for more than about 2 s: every connect,
read and write gives up after DB_TIMEOUT_SECONDS, and a request makes at most
two attempts; the load balancer waits 3 s, so clients get the app's own
message, not a timeout.
"""
import os
import random
import re
import socket
import threading
import time

import pymysql
from flask import Flask, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

HOST = socket.gethostname()
MAX_ENTRY_LENGTH = 280
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
DB_TIMEOUT_SECONDS = 1
# How often a reused connection checks that its endpoint name still resolves to the server it is connected to
# (a failover moves the name; the private zone's records live 30 s).
ENDPOINT_RECHECK_SECONDS = 5


def settings(name):
    return os.environ.get(name, "")


def required_int_setting(name):
    value = settings(name)
    if not value.isdigit():
        raise RuntimeError(f"{name} must be set to a whole number (in /etc/foobar/foobar.env), got {value!r}")
    return int(value)


DB_PORT = required_int_setting("DB_PORT")
app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = required_int_setting("MAX_BODY_BYTES")


class DatabaseUnavailable(Exception):
    pass


class WriteFailed(Exception):
    """The write reached the primary, which failed before confirming it: it may or may not be saved."""


def resolve(name):
    return sorted({info[4][0] for info in socket.getaddrinfo(name, DB_PORT, type=socket.SOCK_STREAM)})


class Endpoint:
    """One database endpoint name (the writer or the reader). Each worker thread keeps one connection to it and
    reuses it; the connection is replaced when it fails, or when the name resolves elsewhere (failover)."""

    def __init__(self, role, setting):
        self.role = role
        self.setting = setting
        self._local = threading.local()

    @property
    def host(self):
        return settings(self.setting)

    def _open(self):
        addresses = resolve(self.host)
        # Several addresses (the reader endpoint over several replicas): spread the workers over them.
        random.shuffle(addresses)
        errors = []
        for address in addresses:
            try:
                conn = pymysql.connect(
                    host=address,
                    port=DB_PORT,
                    user=settings("DB_USER"),
                    password=settings("DB_PASSWORD"),
                    database=settings("DB_NAME"),
                    connect_timeout=DB_TIMEOUT_SECONDS,
                    read_timeout=DB_TIMEOUT_SECONDS,
                    write_timeout=DB_TIMEOUT_SECONDS,
                    autocommit=True,
                    cursorclass=pymysql.cursors.DictCursor,
                )
            except pymysql.MySQLError as err:
                errors.append(f"{address}: {err}")
                continue
            self._local.conn, self._local.address, self._local.checked = conn, address, time.monotonic()
            return conn
        raise pymysql.err.OperationalError(2003, "; ".join(errors) or f"{self.host} resolves to no address")

    def drop(self):
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def reused(self):
        """This thread's open connection, if it has one and its endpoint did not move."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            return None
        now = time.monotonic()
        if now - self._local.checked >= ENDPOINT_RECHECK_SECONDS:
            self._local.checked = now
            try:
                moved = self._local.address not in resolve(self.host)
            except OSError:
                moved = False  # the resolver failing is no reason to drop a working connection
            if moved:
                self.drop()
                return None
        return conn

    def read(self, sql, args=()):
        """Runs a read. A reused connection that turns out closed (the server restarted) is replaced and the read
        sent again: reads are safe to repeat. A slow failure (a timeout) is not tried again here."""
        conn = self.reused()
        if conn is not None:
            started = time.monotonic()
            try:
                return execute(conn, sql, args).fetchall()
            except pymysql.MySQLError:
                self.drop()
                if time.monotonic() - started >= DB_TIMEOUT_SECONDS / 2:
                    raise
        try:
            return execute(self._open(), sql, args).fetchall()
        except pymysql.MySQLError:
            self.drop()
            raise

    def write(self, sql, args=()):
        """Runs a write exactly once: a reused connection is pinged first, and the statement is sent only over a
        connection that answered. Returns the cursor's lastrowid."""
        conn = self.reused()
        if conn is not None:
            try:
                conn.ping(reconnect=False)
            except pymysql.MySQLError:
                self.drop()
                conn = None
        try:
            conn = conn or self._open()
        except (pymysql.MySQLError, OSError) as err:
            raise DatabaseUnavailable(f"the {self.role} database ({self.host}) does not answer: {err}") from err
        try:
            return execute(conn, sql, args).lastrowid
        except pymysql.MySQLError as err:
            self.drop()
            raise WriteFailed(f"the {self.role} database ({self.host}) failed during the write, which may or may not be saved: {err}") from err


def execute(conn, sql, args):
    cur = conn.cursor()
    cur.execute(sql, args)
    return cur


# Behind the Galera sidecar every node takes reads and writes: the endpoints are named for what they do, not for a
# replication role (readFrom says "reader", or "writer" on the fall-back).
GALERA = settings("DB_SIDECAR") == "haproxy"
writer = Endpoint("writer" if GALERA else "primary", "DB_WRITER_HOST")
reader = Endpoint("reader" if GALERA else "replica", "DB_READER_HOST")


def read(sql, args=()):
    """A read from the reader endpoint, else the writer. Returns (role, endpoint name, rows)."""
    errors = []
    for endpoint in (reader, writer):
        try:
            return endpoint.role, endpoint.host, endpoint.read(sql, args)
        except (pymysql.MySQLError, OSError) as err:
            errors.append(f"{endpoint.role} {endpoint.host}: {err}")
    raise DatabaseUnavailable("; ".join(errors))


def recent_entries(limit=DEFAULT_LIMIT):
    return read("SELECT id, body, served_by, created_at FROM entries ORDER BY id DESC LIMIT %s", (limit,))


def replica_lag():
    role, host, rows = read("SHOW SLAVE STATUS")
    if role != "replica" or not rows:
        return role, host, None
    row = rows[0]
    return role, host, {
        "ioRunning": row.get("Slave_IO_Running"),
        "sqlRunning": row.get("Slave_SQL_Running"),
        "secondsBehind": row.get("Seconds_Behind_Master"),
        "gtidPosition": row.get("Gtid_IO_Pos"),
    }


def wants_json():
    return request.path.startswith("/api/")


def error_response(status, message):
    if wants_json():
        return jsonify(error=message, status=status, host=HOST), status
    return render_template("error.html", site=settings("SITE_NAME"), host=HOST, status=status, message=message), status


@app.errorhandler(HTTPException)
def http_error(err):
    return error_response(err.code, f"{err.code} {err.name}: {err.description}")


@app.errorhandler(Exception)
def unexpected_error(err):
    app.logger.exception("unhandled error")
    return error_response(500, f"500 Internal Server Error: the app on {HOST} failed ({type(err).__name__}); its log has the details")


@app.before_request
def refuse_long_bodies():
    # Flask checks the limit only when it parses a form; this covers JSON and every other body.
    limit = app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        abort(413, f"the request body is {request.content_length} bytes; the most this site accepts is {limit}")


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
    """Returns (id, None) or (None, (message, status))."""
    if not isinstance(body, str) or not body.strip() or len(body.strip()) > MAX_ENTRY_LENGTH:
        return None, (f"an entry needs a 'body' of 1 to {MAX_ENTRY_LENGTH} characters", 400)
    try:
        return writer.write("INSERT INTO entries (body, served_by) VALUES (%s, %s)", (body.strip(), HOST)), None
    except DatabaseUnavailable as err:
        return None, (f"writes are unavailable: {err}", 503)
    except WriteFailed as err:
        return None, (str(err), 503)


@app.post("/entries")
def post_entry_form():
    _, failure = insert_entry(request.form.get("body"))
    if failure:
        message, status = failure
        return error_response(status, message)
    return redirect(url_for("index"), code=303)


@app.post("/api/entries")
def post_entry_json():
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return error_response(400, 'the request body must be a JSON object like {"body": "text"}')
    entry_id, failure = insert_entry(payload.get("body"))
    if failure:
        message, status = failure
        return error_response(status, message)
    return jsonify(id=entry_id, host=HOST), 201


def parse_limit(raw):
    if raw is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        abort(400, f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw[:20]!r}")
    return int(raw)


@app.get("/api/entries")
def get_entries():
    limit = parse_limit(request.args.get("limit"))
    try:
        role, db_host, entries = recent_entries(limit)
    except DatabaseUnavailable as err:
        return error_response(503, f"reads are unavailable: {err}")
    for e in entries:
        e["created_at"] = e["created_at"].isoformat()
    return jsonify(host=HOST, readFrom=role, database=db_host, entries=entries)


@app.get("/api/status")
def status():
    database = {"writer": writer.host, "reader": reader.host}
    try:
        role, _, replication = replica_lag()
        database["readFrom"] = role
        database["replication"] = replication
    except DatabaseUnavailable as err:
        database["readFrom"] = None
        database["replication"] = None
        database["error"] = str(err)
    database["replicaLagSeconds"] = (database["replication"] or {}).get("secondsBehind")
    return jsonify(host=HOST, site=settings("SITE_NAME"), database=database)
