#!/usr/bin/env python3
"""The hostile replies of issue 16, section 3, for scripts/bench-memory.sh:
each within the size caps, each once 100 MB to 1.1 GB of peak RSS.

Serves Peaka's paths for project ids `<case>~<anything>` (a fresh suffix
per run gives fresh per-run state):

  list15    the project list (15 MiB): cache a FAILED with an `error` of
            [0,0,...], cache b COMPLETED
  crowd     the project list (13.6 MiB): a and b COMPLETED among 480,000
            tiny entries
  status4   cache c's status (4 MiB): FAILED with an `error` of [0,0,...]
  histempty cache c RUNNING until its history and settings were read, then
            COMPLETED; the history is 4 MiB of {} (1.4 M entries)
  histerror the same; the history has one execution whose `error` is a
            4 MiB array
  settings  the same; the settings hold a 4 MiB numeric array

  scripts/hostile-replies.py PORT
"""

import json
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MIB = 1024 * 1024


def stamp(secs):
    t = datetime.now(timezone.utc) + timedelta(seconds=secs)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def zeros(size):
    return "[" + "0," * (size // 2) + "0]"


def execution(eid, status, created, finished, error="null"):
    body = {
        "id": eid, "executionMode": "INCREMENTAL", "status": status, "error": "@ERROR@",
        "progress": {"numberOfCachedRecords": 1200},
        "createdAt": stamp(created), "updatedAt": stamp(finished if finished is not None else -3),
        "finishedAt": stamp(finished) if finished is not None else None,
    }
    return json.dumps(body).replace('"@ERROR@"', error, 1)


def cache(cid, top, incremental):
    return ('{"id":"%s","status":"%s","catalogId":"cat-1","schemaName":"public",'
            '"tableName":"t_%s","lastIncrementalCacheExecution":%s,'
            '"lastFullRefreshCacheExecution":null}') % (cid, top, cid, incremental)


def completed(cid):
    return cache(cid, "COMPLETED", execution(cid + "-e1", "COMPLETED", -90, -30))


# The large parts are built once: the times around them are fresh per reply.
BIG_ERROR_15 = zeros(15 * MIB)
BIG_ERROR_4 = zeros(4 * MIB - 4096)
TINY = "".join('{"id":"%06x","status":"X"},' % i for i in range(480_000))
EMPTY_HISTORY = ("[" + "{}," * ((4 * MIB - 4096) // 3) + "{}]").encode()
PLAIN_SETTINGS = (b'{"incrementalCacheSchedule":{"type":"BASIC","expression":"PT15M"},'
                  b'"fullRefreshCacheSchedule":{"type":"NONE"}}')
BIG_SETTINGS = ('{"catalogId":"cat-1","columns":%s,"incrementalCacheSchedule":'
                '{"type":"BASIC","expression":"PT15M"}}' % BIG_ERROR_4).encode()

state = {}
lock = threading.Lock()


def count(project, what):
    with lock:
        counts = state.setdefault(project, {})
        counts[what] = counts.get(what, 0) + 1
        return counts


def reply(case, project, rest):
    if rest == ["cache", "status"] and case in ("list15", "crowd"):
        if case == "list15":
            failed = execution("a-e1", "FAILED", -120, -30, BIG_ERROR_15)
            return "[" + cache("a", "FAILED", failed) + "," + completed("b") + "]"
        return "[" + TINY + completed("a") + "," + completed("b") + "]"
    if rest == ["cache", "c", "status"]:
        if case == "status4":
            return cache("c", "FAILED", execution("e1", "FAILED", -120, -30, BIG_ERROR_4))
        counts = count(project, "status")
        read = counts.get("history", 0) and counts.get("settings", 0)
        if counts["status"] > 4 and read:
            return completed("c")
        return cache("c", "RUNNING", execution("e1", "RUNNING", -300, None))
    if rest == ["cache", "c", "executionHistory"]:
        count(project, "history")
        if case == "histerror":
            return "[" + execution("e0", "FAILED", -3600, -3000, BIG_ERROR_4) + "]"
        return EMPTY_HISTORY if case == "histempty" else b"[]"
    if rest == ["cache", "c"]:
        count(project, "settings")
        return BIG_SETTINGS if case == "settings" else PLAIN_SETTINGS
    return None


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        body = None
        if parts[:4] == ["api", "v1", "data", "projects"] and len(parts) > 4:
            project = parts[4]
            body = reply(project.split("~")[0], project, parts[5:])
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        if isinstance(body, str):
            body = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
