"""A steady, bounded load on the site, as users make it: keep-alive GETs and a trickle of POSTs.

GET_CLIENTS clients each keep one connection open and send a GET every GET_INTERVAL ms (the page
and a static file, in turn); one more client POSTs a new entry every POST_INTERVAL ms, each with a
body of its own (PREFIX-<n>), so that the rows stored can be counted against the writes acknowledged.
A client whose request fails opens a new connection, as a browser does. Runs for SECONDS, then prints
one JSON object: every request as [kind, wall-clock start in ms, duration in ms, status or error, body].

BASE_URL may be https (the certificate is not verified: the site's is self-signed).

Usage: python3 steadyLoad.py BASE_URL SECONDS GET_CLIENTS GET_INTERVAL_MS POST_INTERVAL_MS PREFIX
"""
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse

TIMEOUT_SECONDS = 20
GET_PATHS = ["/", "/static/style.css"]


def connect(url):
    if url.scheme == "https":
        # The local site's certificate is self-signed by design; what is measured here is the service, not the chain.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(url.hostname, url.port or 443, timeout=TIMEOUT_SECONDS, context=context)
    return http.client.HTTPConnection(url.hostname, url.port or 80, timeout=TIMEOUT_SECONDS)


def main():
    base, seconds, get_clients, get_interval, post_interval, prefix = sys.argv[1:7]
    url = urllib.parse.urlsplit(base)
    end = time.monotonic() + float(seconds)
    records = []
    lock = threading.Lock()

    def client(kind, interval_ms, index):
        conn = None
        n = 0
        while time.monotonic() < end:
            began = time.monotonic()
            if conn is None:
                conn = connect(url)
            body = None
            started = time.time()
            try:
                if kind == "GET":
                    conn.request("GET", GET_PATHS[n % len(GET_PATHS)])
                else:
                    body = f"{prefix}-{index}-{n}"
                    conn.request("POST", "/api/entries", json.dumps({"body": body}), {"Content-Type": "application/json"})
                r = conn.getresponse()
                text = r.read().decode(errors="replace")
                outcome = r.status
                if r.status >= 400:
                    outcome = f"{r.status} {text.strip()[:160]}"
                if r.will_close:
                    conn.close()
                    conn = None
            except Exception as e:  # refused, reset, timed out: the request failed
                outcome = f"{type(e).__name__}: {e}"
                conn.close()
                conn = None
            with lock:
                records.append([kind, round(started * 1000, 1), round((time.time() - started) * 1000, 1), outcome, body])
            n += 1
            time.sleep(max(0.0, interval_ms / 1000 - (time.monotonic() - began)))

    threads = [threading.Thread(target=client, args=("GET", float(get_interval), i)) for i in range(int(get_clients))]
    threads.append(threading.Thread(target=client, args=("POST", float(post_interval), 0)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(records))


if __name__ == "__main__":
    main()
