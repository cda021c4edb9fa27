#!/usr/bin/env python3
"""A scripted user agent for the end-to-end tests, used as $BROWSER: `approve.py URL`.

It plays the person in the browser: it opens the authorization URL with a cookie jar and, while
the answer is an HTML page with a form, submits the first form (every input it holds; empty
text fields get `alice`, empty password fields `pw`; the first submit button's name=value when it
has a name), following redirects (303 -> GET, as a browser does) until a redirect or a form lands on
a loopback `/callback`, which is Pixy's listener: it requests that once and stops.

It works against oidc-provider's devInteractions pages (login form, then consent form) and against
the embedded demo provider (a form whose first button approves).

`approve.py device approve|deny VERIFICATION_URI USER_CODE` plays the person of a Device
Authorization Grant (RFC 8628) at oidc-provider's device pages instead: it opens the verification
URI, enters the user code, and either confirms and then signs in and consents as above, or aborts
(the device's next poll gets access_denied). It runs in the foreground: exit 0 when the provider
took the decision, 1 otherwise. From Python: `device(verification_uri, user_code, "approve")`
returns the same.

Like a real browser launcher it returns at once: the parent touches the marker file (if any) and
exits 0, and a detached child in its own session does the work, so the daemon that spawned it never
waits. Set PIXY_APPROVE_FOREGROUND=1 to do the work in the foreground and exit with its result.

Environment:
  PIXY_APPROVE_MARKER      a file to append one line to on every run (tests assert it was never run)
  PIXY_APPROVE_LOG         a file to append the log to, besides stderr
  PIXY_APPROVE_FOREGROUND  1: do not detach; exit 0 on success, 1 on failure
  PIXY_APPROVE_LOGIN       the login to type (default alice)
  PIXY_APPROVE_DECISION    deny: press a form's Deny button (value "deny") rather than its first
  PIXY_APPROVE_COOKIES     a cookie file kept between runs, session cookies included: a browser
                           that stays signed in at the provider (default: a new jar every run)
  PIXY_APPROVE_PRINT_CALLBACK  1: do not request the loopback callback; print its URL on stdout
                           instead, as a person copies the address from a browser on another
                           machine (use with PIXY_APPROVE_FOREGROUND=1)

Security: it logs URLs reduced to scheme, host, port and path, and field names only: never a
code (the user code included), state, token or any query or form value.

Python standard library only.
"""

import html.parser
import http.cookiejar
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

MAX_STEPS = 25
TIMEOUT = 30
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
FILL_TEXT_TYPES = {"text", "email", "search", "tel", "url", ""}


def redact(url):
    """scheme://host:port/path, with `?[redacted]` when it had a query."""
    parts = urllib.parse.urlsplit(url)
    out = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if parts.query or parts.fragment:
        out += "?[redacted]"
    return out


class Log:
    def __init__(self):
        self.path = os.environ.get("PIXY_APPROVE_LOG")

    def __call__(self, message):
        line = f"approve.py[{os.getpid()}] {time.strftime('%H:%M:%S')} {message}\n"
        try:
            sys.stderr.write(line)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        if self.path:
            try:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line)
            except OSError:
                pass


log = Log()


class Form:
    def __init__(self, attrs):
        self.action = attrs.get("action") or ""
        self.method = (attrs.get("method") or "get").lower()
        self.fields = []  # (name, value) in document order
        self.submit = None  # (name, value) of the first submit button, or False if it had no name

    def add_submit(self, name, value):
        if self.submit is None:
            self.submit = (name, value) if name else False
        elif name and value == "deny" and os.environ.get("PIXY_APPROVE_DECISION") == "deny":
            # The person declines: the page's Deny button instead of its first one.
            self.submit = (name, value)


class FormParser(html.parser.HTMLParser):
    """Collects the forms of a page: inputs, selects, textareas and submit buttons."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.current = None
        self.textarea = None
        self.select = None
        self.button = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self.current = Form(a)
            self.forms.append(self.current)
            return
        form = self.current
        if form is None:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            name = a.get("name")
            if kind in ("submit", "image"):
                form.add_submit(name, a.get("value", ""))
            elif kind in ("button", "reset", "file"):
                pass
            elif kind in ("checkbox", "radio"):
                if name and "checked" in a:
                    form.fields.append((name, a.get("value", "on")))
            elif name:
                value = a.get("value", "")
                if value == "":
                    if kind == "password":
                        value = "pw"
                    elif kind in FILL_TEXT_TYPES:
                        value = os.environ.get("PIXY_APPROVE_LOGIN", "alice")
                form.fields.append((name, value))
        elif tag == "button":
            kind = a.get("type", "submit").lower()
            if kind == "submit":
                self.button = {"name": a.get("name"), "value": a.get("value"), "text": ""}
        elif tag == "textarea" and a.get("name"):
            self.textarea = [a["name"], ""]
        elif tag == "select" and a.get("name"):
            self.select = {"name": a["name"], "first": None, "selected": None}
        elif tag == "option" and self.select is not None:
            value = a.get("value", "")
            if self.select["first"] is None:
                self.select["first"] = value
            if "selected" in a and self.select["selected"] is None:
                self.select["selected"] = value

    def handle_endtag(self, tag):
        form = self.current
        if tag == "form":
            self.current = None
        elif tag == "button" and self.button is not None:
            if form is not None:
                value = self.button["value"]
                if value is None:
                    value = self.button["text"].strip()
                form.add_submit(self.button["name"], value)
            self.button = None
        elif tag == "textarea" and self.textarea is not None:
            if form is not None:
                form.fields.append(tuple(self.textarea))
            self.textarea = None
        elif tag == "select" and self.select is not None:
            if form is not None:
                s = self.select
                value = s["selected"] if s["selected"] is not None else s["first"]
                if value is not None:
                    form.fields.append((s["name"], value))
            self.select = None

    def handle_data(self, data):
        if self.button is not None:
            self.button["text"] += data
        if self.textarea is not None:
            self.textarea[1] += data


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by hand, to stop at the loopback callback."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def is_callback(url):
    """An app's redirect, or a code page that stands for one: a loopback address carrying the
    authorization response (`code` or `error` with `state`, and no `client_id`, which only a
    request carries), whatever its path."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    response = ("code" in query or "error" in query) and "state" in query and "client_id" not in query
    return parts.hostname in LOOPBACK_HOSTS and response


class Agent:
    def __init__(self):
        self.cookie_file = os.environ.get("PIXY_APPROVE_COOKIES")
        if self.cookie_file:
            self.jar = http.cookiejar.LWPCookieJar(self.cookie_file)
            if os.path.exists(self.cookie_file):
                self.jar.load(ignore_discard=True, ignore_expires=True)
        else:
            self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),  # loopback only: never through a proxy
            urllib.request.HTTPCookieProcessor(self.jar),
            NoRedirect(),
        )

    def request(self, method, url, data=None):
        """Returns (status, headers, body bytes) without following redirects."""
        body = None
        headers = {"User-Agent": "pixy-approve/1 (test user agent)"}
        if data is not None:
            encoded = urllib.parse.urlencode(data)
            if method == "GET":
                sep = "&" if urllib.parse.urlsplit(url).query else "?"
                url = url + sep + encoded if encoded else url
            else:
                body = encoded.encode("ascii")
                headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=TIMEOUT) as resp:
                return resp.status, resp.headers, resp.read(), url
        except urllib.error.HTTPError as err:
            try:
                content = err.read()
            finally:
                err.close()
            return err.code, err.headers, content, url

    def keep_cookies(self):
        if self.cookie_file:
            self.jar.save(ignore_discard=True, ignore_expires=True)


def run(start_url):
    agent = Agent()
    try:
        return steps(agent, start_url)
    finally:
        agent.keep_cookies()


def steps(agent, start_url, method="GET", data=None, end_page=None):
    """Submits forms and follows redirects from start_url until the loopback callback. end_page, a
    function of a URL, also ends it well on an HTML page without a form at a URL it accepts."""
    url = start_url
    for step in range(1, MAX_STEPS + 1):
        callback = is_callback(url)
        if callback and os.environ.get("PIXY_APPROVE_PRINT_CALLBACK") == "1":
            log("reached the loopback callback: printed, not requested")
            print(url, flush=True)
            return 0
        status, headers, body, url = agent.request(method, url, data)
        log(f"step {step}: {method} {redact(url)} -> {status}")
        if callback:
            if 200 <= status < 400:
                log("reached the loopback callback: done")
                return 0
            log(f"the loopback callback answered {status}")
            return 1
        if status in (301, 302, 303, 307, 308):
            location = headers.get("Location")
            if not location:
                log("redirect without Location")
                return 1
            url = urllib.parse.urljoin(url, location)
            if status in (307, 308):
                pass  # same method and body, as a browser does
            else:
                method, data = "GET", None
            continue
        content_type = headers.get("Content-Type", "")
        if status != 200 or "html" not in content_type:
            log(f"stopped: status {status}, content type {content_type or 'none'}")
            return 1
        charset = headers.get_content_charset() or "utf-8"
        parser = FormParser()
        parser.feed(body.decode(charset, errors="replace"))
        parser.close()
        if not parser.forms:
            if end_page is not None and end_page(url):
                log("reached the provider's closing page: done")
                return 0
            log("stopped: an HTML page without a form and no callback reached")
            return 1
        method, url, data = submission(parser.forms[0], url)
    log(f"stopped: no callback after {MAX_STEPS} steps")
    return 1


def submission(form, page_url, extra=()):
    """(method, url, data) of submitting `form` of the page at page_url, with `extra` fields added
    as a submit button outside the form does (HTML's form= attribute)."""
    data = list(form.fields)
    if form.submit:
        data.append(form.submit)
    data.extend(extra)
    method = "POST" if form.method == "post" else "GET"
    url = urllib.parse.urljoin(page_url, form.action) if form.action else page_url
    names = ", ".join(name for name, _ in data) or "no fields"
    log(f"submitting form {method} {redact(url)} with {names}")
    return method, url, data


DECISIONS = ("approve", "deny")


def device(verification_uri, user_code, decision="approve"):
    """Plays the person of a Device Authorization Grant (RFC 8628) at oidc-provider's device pages:
    opens verification_uri (verification_uri_complete works too), enters user_code, then for
    "approve" confirms, signs in and consents as for the code flow, and for "deny" aborts, which
    answers the device's next poll with access_denied. Returns 0 when the provider took the
    decision, 1 otherwise (the reason is logged, never the code)."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be approve or deny, got {decision!r}")
    agent = Agent()
    try:
        return device_steps(agent, verification_uri, user_code, decision)
    finally:
        agent.keep_cookies()


def page_forms(agent, method, url, data=None, what="page"):
    """Requests a page that must be HTML with forms; returns (forms, final url) or (None, url)."""
    status, headers, body, url = agent.request(method, url, data)
    log(f"{what}: {method} {redact(url)} -> {status}")
    content_type = headers.get("Content-Type", "")
    if status != 200 or "html" not in content_type:
        log(f"stopped: status {status}, content type {content_type or 'none'}")
        return None, url
    parser = FormParser()
    parser.feed(body.decode(headers.get_content_charset() or "utf-8", errors="replace"))
    parser.close()
    if not parser.forms:
        log("stopped: an HTML page without a form")
        return None, url
    return parser.forms, url


def form_with(forms, name):
    return next((form for form in forms if any(field == name for field, _ in form.fields)), None)


def device_steps(agent, verification_uri, user_code, decision):
    # The code entry page: an xsrf hidden field and the user_code text field. With
    # verification_uri_complete the provider answers a self-submitting form with both instead.
    forms, url = page_forms(agent, "GET", verification_uri, what="code entry page")
    entry = forms and form_with(forms, "user_code")
    if not entry:
        if forms:
            log("stopped: no form with a user_code field on the code entry page")
        return 1
    entry.fields = [(name, user_code if name == "user_code" else value)
                    for name, value in entry.fields]
    method, url, data = submission(entry, url)

    # The confirmation page: the same hidden fields and confirm=yes; its Continue and Abort buttons
    # sit outside the form. A wrong, expired or spent code brings the code entry page back instead.
    forms, url = page_forms(agent, method, url, data, what="code submitted")
    confirm = forms and form_with(forms, "confirm")
    if not confirm:
        if forms:
            log("stopped: the provider did not take the user code (no confirmation page)")
        return 1
    if decision == "deny":
        method, url, data = submission(confirm, url, extra=[("abort", "yes")])
        # An abort brings the code entry page back, with a message that the sign-in was interrupted.
        forms, url = page_forms(agent, method, url, data, what="aborted")
        if not (forms and form_with(forms, "user_code")):
            return 1
        log("denied: the device's next poll gets access_denied")
        return 0
    method, url, data = submission(confirm, url)

    # Then sign-in and consent as for the code flow, ending on the provider's success page at
    # the verification URI's path + /UID (oidc-provider's device_resume route).
    verification = urllib.parse.urlsplit(verification_uri)
    resume_path = verification.path.rstrip("/") + "/"

    def success_page(page_url):
        parts = urllib.parse.urlsplit(page_url)
        return parts.netloc == verification.netloc and parts.path.startswith(resume_path)

    return steps(agent, url, method, data, end_page=success_page)


USAGE = """usage: approve.py URL
       approve.py device approve|deny VERIFICATION_URI USER_CODE
"""


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(USAGE)
        return 2
    if argv[1] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if argv[1] == "device":
        return device_main(argv[2:])
    url = argv[-1]
    marker = os.environ.get("PIXY_APPROVE_MARKER")
    if marker:
        with open(marker, "a", encoding="utf-8") as f:
            f.write(f"approve.py run for {redact(url)}\n")
    if os.environ.get("PIXY_APPROVE_FOREGROUND") == "1":
        return work(lambda: run(url))
    # Detach like a browser launcher: the caller gets 0 at once and never waits for the flow.
    if os.fork() != 0:
        return 0
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os._exit(work(lambda: run(url)))


def device_main(args):
    """approve.py device approve|deny VERIFICATION_URI USER_CODE, always in the foreground."""
    if len(args) != 3 or args[0] not in DECISIONS:
        sys.stderr.write(USAGE)
        return 2
    decision, verification_uri, user_code = args
    marker = os.environ.get("PIXY_APPROVE_MARKER")
    if marker:
        with open(marker, "a", encoding="utf-8") as f:
            f.write(f"approve.py device run for {redact(verification_uri)}\n")
    return work(lambda: device(verification_uri, user_code, decision))


def work(flow):
    try:
        return flow()
    except Exception as err:  # a failing user agent must say why, without values
        reason = getattr(err, "reason", None) or ("see the lines above" if "://" in str(err) else err)
        log(f"failed: {type(err).__name__}: {reason}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
