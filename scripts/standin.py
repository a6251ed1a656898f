#!/usr/bin/env python3
"""A local stand-in for the outside services that have no local emulator: Meta's
WhatsApp Cloud API (Graph API) and Amazon SNS's Publish, which deliver verification
codes, and AWS Secrets Manager, which holds the secrets in AWS.

    python3 scripts/standin.py --port 8102 --outbox .local/outbox.jsonl

One HTTP server answers both, as the real clients call them:
  POST /<version>/<phone-number-id>/messages   the Graph API (Bearer token required)
  POST /   Action=Publish&...                   SNS's Query API (as aws-sdk-sns sends it)
  POST /   X-Amz-Target: secretsmanager.<Op>    Secrets Manager's JSON API: CreateSecret,
                                                PutSecretValue, GetSecretValue (a secret
                                                named by its name or its ARN, full or
                                                partial, as AWS does)
Every message "sent" is appended to the outbox as one JSON line
  {"at": "<RFC 3339 UTC>", "via": "whatsapp"|"sms", "to": "+<E.164>", "body": "<text>"}
(SMS lines also carry the message attributes) and printed on stdout.

For tests:
  POST /_standin/rules   {"to": "+91...", "via": "whatsapp"|"sms",
                          "fail": "not_on_whatsapp"|"5xx"|"timeout", "times": N}
       the next N deliveries (default: all) to that number on that channel fail that way
  DELETE /_standin/rules?to=+91...   forgets that number's rules
  GET /_standin/outbox?to=+91...     that number's messages since this server started
                                     (outbox lines), oldest first
  POST /_standin/rules   {"secret": "<name>", "fail": "5xx"|"timeout", "times": N}
       the next N reads of that secret fail that way
  GET /_standin/health               200 once listening

--secrets-from FILE --secret-name NAME creates secret NAME at start from the names of
FILE (an env file such as config/dev.env) that a secret set holds (SECRET_NAMES), so
that `sam local invoke` reads the development secrets the way AWS functions read theirs.

Standard library only. --port 0 picks a free port; the first line on stdout names it.
--exit-on-stdin-eof ends the server when its parent closes stdin (a test process that
exits, however it exits, cannot leave it running).
"""

import argparse
import json
import os
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 1 << 20
GRAPH_PATH = re.compile(r"^/v\d+(?:\.\d+)?/(\d+)/messages$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
FAILURES = {"not_on_whatsapp", "5xx", "timeout"}
# How long a "timeout" rule holds the connection without answering.
HOLD_SECONDS = 30.0

# Meta's answer when the recipient cannot receive WhatsApp messages (HTTP 400).
NOT_ON_WHATSAPP = {
    "message": "(#131026) Message Undeliverable.",
    "type": "OAuthException",
    "code": 131026,
    "error_data": {
        "messaging_product": "whatsapp",
        "details": "Message Undeliverable.",
    },
}
SNS_NS = "http://sns.amazonaws.com/doc/2010-03-31/"
# What a secret set may hold (omnisession::vault::NAMES).
SECRET_NAMES = (
    "SERVICE_KEYS",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "CODE_HMAC_KEY",
    "WHATSAPP_ACCESS_TOKEN",
)
ACCOUNT = "123456789012"


class State:
    def __init__(self, outbox_path):
        self.lock = threading.Lock()
        self.rules = {}  # (to, via) -> {"fail": str, "times": int | None}
        self.sent = []  # outbox lines of this run, as dicts
        self.outbox_path = outbox_path
        self.secrets = {}  # name -> {"arn": str, "string": str, "version": str, "created": float}

    def find_secret(self, secret_id):
        """The secret a SecretId names: its name, its ARN, or its ARN without the
        6-character suffix AWS adds (a partial ARN)."""
        name = secret_id
        if secret_id.startswith("arn:"):
            name = secret_id.split(":secret:", 1)[-1]
            if name not in self.secrets and len(name) > 7 and name[-7] == "-":
                name = name[:-7]
        secret = self.secrets.get(name)
        if secret is None or (secret_id.startswith("arn:") and not secret["arn"].startswith(secret_id)):
            return None, None
        return name, secret

    def put_secret(self, name, string, region="ap-south-1"):
        with self.lock:
            secret = self.secrets.get(name)
            if secret is None:
                suffix = uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:6]
                secret = {"arn": f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{name}-{suffix}", "created": time.time()}
                self.secrets[name] = secret
            secret["string"] = string
            secret["version"] = str(uuid.uuid4())
            return secret

    def take_failure(self, to, via):
        """The failure the next delivery to `to` on `via` must suffer, if any (counts it)."""
        with self.lock:
            rule = self.rules.get((to, via))
            if rule is None:
                return None
            if rule["times"] is not None:
                rule["times"] -= 1
                if rule["times"] <= 0:
                    del self.rules[(to, via)]
            return rule["fail"]

    def record(self, line):
        text = json.dumps(line, ensure_ascii=False)
        with self.lock:
            self.sent.append(line)
            if self.outbox_path:
                with open(self.outbox_path, "a", encoding="utf-8") as f:
                    f.write(text + "\n")
            print(text, flush=True)


def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def graph_error(message, code, kind="OAuthException"):
    return {
        "error": {
            "message": message,
            "type": kind,
            "code": code,
            "fbtrace_id": uuid.uuid4().hex[:22],
        }
    }


def sns_error(code, message, sender=True):
    return (
        f'<ErrorResponse xmlns="{SNS_NS}"><Error><Type>{"Sender" if sender else "Receiver"}</Type>'
        f"<Code>{code}</Code><Message>{xml_escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )


def xml_escape(text):
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def template_code(body):
    """The code an authentication template carries: the body's first text parameter."""
    template = body.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("name"), str):
        return None
    language = template.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str):
        return None
    components = template.get("components")
    if not isinstance(components, list):
        return None
    for component in components:
        if isinstance(component, dict) and component.get("type") == "body":
            params = component.get("parameters")
            if isinstance(params, list) and params and isinstance(params[0], dict):
                text = params[0].get("text")
                if isinstance(text, str) and text:
                    return text
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "omnisession-standin"
    state = None  # set in main

    def log_message(self, *args):
        pass  # quiet: the outbox lines are the log

    # ---- plumbing

    def reply(self, status, body, content_type="application/json"):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def hold(self):
        """The "timeout" failure: say nothing for a while, then hang up."""
        time.sleep(HOLD_SECONDS)
        self.close_connection = True

    def safely(self, handler):
        try:
            handler()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # bad input must never stop the server
            try:
                self.reply(500, {"error": f"stand-in failure: {type(err).__name__}"})
            except OSError:
                self.close_connection = True

    def do_GET(self):
        self.safely(self.get)

    def do_POST(self):
        self.safely(self.post)

    def do_DELETE(self):
        self.safely(self.delete)

    # ---- routes

    def get(self):
        url = urlsplit(self.path)
        if url.path == "/_standin/health":
            return self.reply(200, {"ok": True})
        if url.path == "/_standin/outbox":
            to = parse_qs(url.query).get("to", [None])[0]
            with self.state.lock:
                lines = [l for l in self.state.sent if to is None or l["to"] == to]
            text = "".join(json.dumps(l, ensure_ascii=False) + "\n" for l in lines)
            return self.reply(200, text, "application/x-ndjson")
        self.reply(404, {"error": "not found"})

    def delete(self):
        url = urlsplit(self.path)
        if url.path != "/_standin/rules":
            return self.reply(404, {"error": "not found"})
        to = parse_qs(url.query).get("to", [None])[0]
        with self.state.lock:
            for key in [k for k in self.state.rules if to is None or k[0] == to]:
                del self.state.rules[key]
        self.reply(200, {"ok": True})

    def post(self):
        raw = self.read_body()
        path = urlsplit(self.path).path
        if raw is None:
            self.close_connection = True  # the unread body would be taken for a request
            return self.reply(400, {"error": "bad or missing Content-Length"})
        if path == "/_standin/rules":
            return self.add_rule(raw)
        target = self.headers.get("X-Amz-Target") or ""
        if path == "/" and target.startswith("secretsmanager."):
            return self.secretsmanager(target[len("secretsmanager."):], raw)
        match = GRAPH_PATH.match(path)
        if match:
            return self.whatsapp(raw)
        if path == "/":
            return self.sns(raw)
        self.reply(404, {"error": "not found"})

    def add_rule(self, raw):
        try:
            rule = json.loads(raw)
        except ValueError:
            return self.reply(400, {"error": "body must be JSON"})
        if not isinstance(rule, dict):
            return self.reply(400, {"error": "body must be an object"})
        to, via, fail, times = rule.get("to"), rule.get("via"), rule.get("fail"), rule.get("times")
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            return self.reply(400, {"error": "times: expected a whole number from 1"})
        if "secret" in rule:
            if not isinstance(rule["secret"], str) or fail not in ("5xx", "timeout"):
                return self.reply(400, {"error": "secret: expected a name, fail: 5xx or timeout"})
            with self.state.lock:
                self.state.rules[(rule["secret"], "secretsmanager")] = {"fail": fail, "times": times}
            return self.reply(200, {"ok": True})
        if not isinstance(to, str) or not E164.match(to):
            return self.reply(400, {"error": "to: expected +<E.164>"})
        if via not in ("whatsapp", "sms"):
            return self.reply(400, {"error": "via: expected whatsapp or sms"})
        if fail not in FAILURES or (fail == "not_on_whatsapp" and via != "whatsapp"):
            return self.reply(400, {"error": "fail: expected not_on_whatsapp (whatsapp only), 5xx or timeout"})
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            return self.reply(400, {"error": "times: expected a whole number from 1"})
        with self.state.lock:
            self.state.rules[(to, via)] = {"fail": fail, "times": times}
        self.reply(200, {"ok": True})

    def whatsapp(self, raw):
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or not auth[len("Bearer "):].strip():
            return self.reply(
                401, graph_error("Invalid OAuth access token - Cannot parse access token", 190)
            )
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.reply(400, graph_error("(#100) Invalid parameter", 100))
        digits = body.get("to")
        code = template_code(body)
        if (
            body.get("messaging_product") != "whatsapp"
            or body.get("type") != "template"
            or not isinstance(digits, str)
            or not E164.match("+" + digits.lstrip("+"))
            or code is None
        ):
            return self.reply(400, graph_error("(#100) Invalid parameter", 100))
        to = "+" + digits.lstrip("+")
        failure = self.state.take_failure(to, "whatsapp")
        if failure == "timeout":
            return self.hold()
        if failure == "5xx":
            return self.reply(500, graph_error("(#131000) Something went wrong", 131000))
        if failure == "not_on_whatsapp":
            return self.reply(400, {"error": dict(NOT_ON_WHATSAPP, fbtrace_id=uuid.uuid4().hex[:22])})
        wamid = "wamid." + uuid.uuid4().hex
        self.state.record(
            {
                "at": now_rfc3339(),
                "via": "whatsapp",
                "to": to,
                # Meta's preset text of an authentication template with the security line.
                "body": f"{code} is your verification code. For your security, do not share this code.",
            }
        )
        self.reply(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": digits, "wa_id": to[1:]}],
                "messages": [{"id": wamid}],
            },
        )

    def secretsmanager(self, operation, raw):
        """Secrets Manager's JSON protocol, as aws-sdk-secretsmanager calls it."""
        kind = "application/x-amz-json-1.1"

        def error(status, code, message):
            return self.reply(status, {"__type": code, "message": message}, kind)

        if not (self.headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256"):
            return error(400, "MissingAuthenticationTokenException", "Request is missing Authentication Token")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error(400, "SerializationException", "body must be a JSON object")
        if operation == "CreateSecret":
            name, string = body.get("Name"), body.get("SecretString")
            if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9/_+=.@-]{1,512}$", name):
                return error(400, "InvalidParameterException", "Name is invalid")
            if name in self.state.secrets:
                return error(400, "ResourceExistsException", f"The operation failed because the secret {name} already exists.")
            if string is not None and not isinstance(string, str):
                return error(400, "InvalidParameterException", "SecretString must be a string")
            secret = self.state.put_secret(name, string)
            return self.reply(200, {"ARN": secret["arn"], "Name": name, "VersionId": secret["version"]}, kind)
        secret_id = body.get("SecretId")
        if not isinstance(secret_id, str) or not secret_id:
            return error(400, "InvalidParameterException", "SecretId is required")
        name, secret = self.state.find_secret(secret_id)
        if secret is None:
            return error(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
        if operation == "PutSecretValue":
            string = body.get("SecretString")
            if not isinstance(string, str):
                return error(400, "InvalidParameterException", "SecretString must be a string")
            secret = self.state.put_secret(name, string)
            return self.reply(200, {"ARN": secret["arn"], "Name": name, "VersionId": secret["version"], "VersionStages": ["AWSCURRENT"]}, kind)
        if operation == "GetSecretValue":
            failure = self.state.take_failure(name, "secretsmanager")
            if failure == "timeout":
                return self.hold()
            if failure == "5xx":
                return error(500, "InternalServiceError", "An error occurred on the server side.")
            if secret.get("string") is None:
                return error(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT")
            return self.reply(
                200,
                {
                    "ARN": secret["arn"],
                    "Name": name,
                    "SecretString": secret["string"],
                    "VersionId": secret["version"],
                    "VersionStages": ["AWSCURRENT"],
                    "CreatedDate": secret["created"],
                },
                kind,
            )
        return error(400, "UnknownOperationException", f"{operation} is not supported here")

    def sns(self, raw):
        xml = "text/xml"
        if not (self.headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256"):
            return self.reply(403, sns_error("MissingAuthenticationToken", "Request is missing Authentication Token"), xml)
        try:
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            return self.reply(400, sns_error("MalformedQueryString", "Body is not UTF-8"), xml)
        field = lambda name: form.get(name, [None])[0]
        if field("Action") != "Publish":
            return self.reply(400, sns_error("InvalidAction", f"Action {field('Action')!r} is not supported here"), xml)
        to, message = field("PhoneNumber"), field("Message")
        if not to or not E164.match(to):
            return self.reply(400, sns_error("InvalidParameter", "Invalid parameter: PhoneNumber"), xml)
        if not message:
            return self.reply(400, sns_error("InvalidParameter", "Invalid parameter: Message"), xml)
        attributes = {}
        n = 1
        while field(f"MessageAttributes.entry.{n}.Name") is not None:
            name = field(f"MessageAttributes.entry.{n}.Name")
            attributes[name] = field(f"MessageAttributes.entry.{n}.Value.StringValue")
            n += 1
        failure = self.state.take_failure(to, "sms")
        if failure == "timeout":
            return self.hold()
        if failure == "5xx":
            return self.reply(500, sns_error("InternalError", "Internal service error", sender=False), xml)
        self.state.record(
            {"at": now_rfc3339(), "via": "sms", "to": to, "body": message, "attributes": attributes}
        )
        self.reply(
            200,
            f'<PublishResponse xmlns="{SNS_NS}"><PublishResult><MessageId>{uuid.uuid4()}</MessageId>'
            f"</PublishResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
            f"</ResponseMetadata></PublishResponse>",
            xml,
        )


def exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--outbox", required=True, help="JSON-lines file the messages are appended to")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    parser.add_argument("--secrets-from", help="env file whose secret names make a secret at start")
    parser.add_argument("--secret-name", default="omnisession-dev", help="that secret's name")
    args = parser.parse_args()

    if os.path.dirname(args.outbox) and not os.path.exists(args.outbox):
        os.makedirs(os.path.dirname(args.outbox), exist_ok=True)
    Handler.state = State(args.outbox)
    if args.secrets_from:
        values = {}
        with open(args.secrets_from, encoding="utf-8") as f:
            for line in f:
                name, sep, value = line.strip().partition("=")
                if sep and name in SECRET_NAMES and value.strip():
                    values[name] = value.strip()
        Handler.state.put_secret(args.secret_name, json.dumps(values))
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    if args.exit_on_stdin_eof:
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    port = server.server_address[1]
    print(f"standin: listening on http://{args.host}:{port} (outbox: {args.outbox})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
