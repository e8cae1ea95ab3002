"""`qa serve`: a local review workbench (FastAPI) over one database — the review queue with
sampling, a review page per call (recording, transcript, machine answers with evidence, agree or
override forms, audit history) and calibration. Pages extend the static reports' templates.

The database is opened per request with `Store(db, hold=False)` and closed before the answer
goes out, so a `qa score` batch can write into the same file meanwhile. Every form carries a
per-session token signed with the app's secret; a POST without it, or with a wrong one, gets 403.
"""

import base64
import hashlib
import hmac
import secrets
import threading
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Optional
from urllib.parse import quote

import typer

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
PERIODS = ("day", "week", "month")


# --- users -----------------------------------------------------------------------------------

def hash_password(password: str, salt: bytes | None = None) -> str:
    """An scrypt hash of `password` with a random salt: "scrypt$n$r$p$salt$hash" (base64)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${b64(salt)}${b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    """Whether `password` matches a hash_password() string (False for any malformed hash)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(base64.b64decode(digest)), maxmem=2**26)
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def load_users(path: str | Path) -> dict[str, str]:
    """name -> password hash from a YAML or TOML file holding `users`: a list of {name, password_hash}."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        import tomllib

        data = tomllib.loads(text)
    else:
        from ruamel.yaml import YAML  # the YAML library the project depends on (rubrics)

        data = YAML(typ="safe", pure=True).load(text)
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, list) or not all(
            isinstance(u, dict) and isinstance(u.get("name"), str) and isinstance(u.get("password_hash"), str)
            for u in users):
        raise ValueError(f"{path}: expected `users:` as a list of entries with name and password_hash")
    return {u["name"].strip(): u["password_hash"] for u in users}


# --- the app -----------------------------------------------------------------------------------

class _Login(Exception):
    """Raised by a page that needs a signed-in reviewer; answered with a redirect to /login."""


def create_app(db: str | Path, *, reviewer: str | None = None, users: dict[str, str] | str | Path | None = None,
               secret: str | None = None):
    """The workbench app over the database `db`. Either `reviewer` (every write is theirs) or
    `users` (name -> password hash, or a users file; reviewers sign in) must be given. `secret`
    signs the session cookie and the form tokens (default: random, so sessions end with the process)."""
    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse
    from itsdangerous import BadSignature, URLSafeSerializer
    from starlette.exceptions import HTTPException as AnyHTTPException
    from starlette.middleware.sessions import SessionMiddleware

    from qa.reviews import REASONS, ReviewError, ReviewInput, Reviews
    from qa.store import Store, StoreError
    from reports import evidence as metric_evidence
    from reports import stats
    from reports.formatting import finite
    from reports.render import environment

    if users is not None and not isinstance(users, dict):
        users = load_users(users)
    if not users and not (reviewer and reviewer.strip()):
        raise ValueError("qa serve needs --reviewer NAME or --users FILE")
    secret = secret or secrets.token_hex(32)
    signer = URLSafeSerializer(secret, salt="qa-serve-form")
    env = environment()
    db_lock = threading.Lock()  # one open of the file at a time in this process
    app = FastAPI(title="callqa review", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie="qa_review", same_site="strict")

    @contextmanager
    def open_store():
        with db_lock:
            store = Store(db, hold=False)
            try:
                yield store
            finally:
                store.close()

    def who(request: Request) -> str:
        if users:
            name = request.session.get("user")
            if name not in users:
                raise _Login()
            return name
        return reviewer.strip()

    def token(request: Request) -> str:
        if "sid" not in request.session:
            request.session["sid"] = secrets.token_urlsafe(16)
        return signer.dumps(request.session["sid"])

    async def form(request: Request) -> dict:
        """The POSTed form, once its token proved it came from a page of this session (else 403)."""
        data = await request.form()
        try:
            good = "sid" in request.session and signer.loads(str(data.get("csrf", ""))) == request.session["sid"]
        except BadSignature:
            good = False
        if not good:
            raise HTTPException(403, "missing or wrong form token (reload the page)")
        return {k: str(v) for k, v in data.items()}

    def link_for(here_call: str | None = None):
        """`link(kind, key, t, anchor)` as the report templates call it, for the workbench's pages."""
        def link(kind: str, key: str | None = None, t: float | None = None, anchor: str | None = None) -> str:
            fragment = f"#t={t}" if finite(t) else f"#{anchor}" if anchor else ""
            if kind == "call" and key is not None:
                return fragment if key == here_call and fragment else f"/calls/{quote(key, safe='')}{fragment}"
            if kind == "calibration":
                return "/calibration"
            return "/"
        return link

    def page(request: Request, template: str, status: int = 200, here_call: str | None = None, **context):
        user = None if not users else request.session.get("user")
        html = env.get_template(template).render(context, link=link_for(here_call), csrf=token(request),
                                                 reviewer=user or reviewer, signed_in=bool(users and user))
        return HTMLResponse(html, status_code=status)

    @app.exception_handler(_Login)
    async def to_login(request: Request, exc: _Login):
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(ReviewError)
    async def review_error(request: Request, exc: ReviewError):
        return page(request, "serve/error.html", 400, message=str(exc).splitlines()[0] if str(exc) else "bad review")

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError):
        return page(request, "serve/error.html", 503, message=str(exc).splitlines()[0])

    @app.exception_handler(AnyHTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return page(request, "serve/error.html", exc.status_code, message=str(exc.detail))

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request):
        return page(request, "serve/login.html", error=None)

    @app.post("/login")
    def login(request: Request, data: dict = Depends(form)):
        name = data.get("name", "").strip()
        if not users or name not in users or not check_password(data.get("password", ""), users[name]):
            return page(request, "serve/login.html", 401, error="unknown name or wrong password")
        request.session["user"] = name
        request.session["sid"] = secrets.token_urlsafe(16)  # a new session token once signed in
        return RedirectResponse("/", status_code=303)

    @app.post("/logout")
    def logout(request: Request, data: dict = Depends(form)):
        request.session.clear()
        return RedirectResponse("/login" if users else "/", status_code=303)

    @app.get("/", response_class=HTMLResponse)
    def queue(request: Request):
        who(request)
        with open_store() as store:
            version, rows = store.rubric_version(), store.review_queue()
            flagged = Reviews(store).calibration(version["rubric_hash"]).flagged if version else {}
        return page(request, "serve/queue.html", version=version, rows=rows, periods=PERIODS, flagged=flagged)

    @app.post("/sample")
    def sample(request: Request, data: dict = Depends(form)):
        who(request)
        try:
            per_agent, seed, period = int(data.get("per_agent", "")), int(data.get("seed", "")), data.get("period")
        except ValueError:
            raise HTTPException(400, "per agent and seed must be whole numbers") from None
        if per_agent < 1 or period not in PERIODS:
            raise HTTPException(400, f"per agent must be 1 or more and period one of {', '.join(PERIODS)}")
        with open_store() as store:
            version = store.rubric_version()
            if version is None:
                raise HTTPException(400, "no scored calls to sample from")
            reviews = Reviews(store)
            uncertain = set(reviews.calibration(version["rubric_hash"]).flagged)  # reviewed first where unknown/low
            reviews.sample(version["rubric_hash"], per_agent=per_agent, period=period, seed=seed, uncertain=uncertain)
        return RedirectResponse("/", status_code=303)

    @app.get("/calls/{call_id:path}", response_class=HTMLResponse)
    def review_page(request: Request, call_id: str):
        who(request)
        with open_store() as store:
            version = store.call_rubric_hash(call_id)
            call = next((c for c in store.report_calls(version) if c["call_id"] == call_id), None) if version else None
            if call is None:
                raise HTTPException(404, f"call {call_id!r} is not scored in this database")
            results = store.criterion_results(version, [call_id]).get(call_id, [])
            turns = store.turn_rows([call_id]).get(call_id, [])
            history = store.review_history(call_id)
            new_look = Reviews(store).needs_new_look(call_id, version)
        metric_evidence.attach_metrics(SimpleNamespace(calls=[call], results={call_id: results}))
        quotes = [dict(e, criterion_name=r["name"]) for r in results for e in r["evidence"] if e["kind"] == "quote"]
        for turn in turns:
            own = [q for q in quotes if q["start_s"] < turn["end_s"] + 0.01 and q["end_s"] > turn["start_s"] - 0.01]
            turn["pieces"] = stats.highlighted(turn["text"] or "", own)
        names = {r["criterion_id"]: r["name"] or r["criterion_id"] for r in results}
        return page(request, "serve/review.html", here_call=call_id, call=call, results=results, turns=turns,
                    history=history, new_look=new_look, names=names,
                    reasons={k: v for k, v in REASONS.items() if k != "imported"},
                    audio_href=f"/audio/{quote(call_id, safe='')}")

    @app.post("/review/{call_id:path}")
    def review(request: Request, call_id: str, data: dict = Depends(form)):
        name = who(request)
        outcome = data.get("outcome", "agree")
        reason = data.get("reason") or ("agree" if outcome == "agree" else "wrong_outcome")
        if outcome != "agree" and reason == "agree":
            raise HTTPException(400, "an override needs a reason other than agreeing with the machine")
        with open_store() as store:
            Reviews(store).record(ReviewInput(call_id, data.get("criterion_id", ""),
                                              None if outcome == "agree" else outcome, name, reason,
                                              data.get("comment", "").strip() or None))
        anchor = quote("criterion-" + data.get("criterion_id", ""), safe="-_")
        return RedirectResponse(f"/calls/{quote(call_id, safe='')}#{anchor}", status_code=303)

    @app.get("/audio/{call_id:path}")
    def audio(request: Request, call_id: str):
        """The recording of a stored call; nothing else (the path comes from the database only)."""
        who(request)
        with open_store() as store:
            file = store.call_file(call_id)
        path = Path(file) if file else None
        if path is None or not path.is_file():
            return PlainTextResponse("no recording for this call", status_code=404)
        return FileResponse(path)

    @app.get("/calibration", response_class=HTMLResponse)
    def calibration(request: Request, rubric: Optional[str] = None, min_n: int = 20, gate_ac1: float = 0.6):
        who(request)
        with open_store() as store:
            version = store.rubric_version(rubric)
            if version is None:
                raise HTTPException(404, "no scored calls of this rubric")
            result = Reviews(store).calibration(version["rubric_hash"], min_n=min_n, gate_ac1=gate_ac1)
            criteria = store.criteria(version["rubric_hash"])
        return page(request, "serve/calibration.html", version=version, cal=result, criteria=criteria,
                    min_n=min_n, gate_ac1=gate_ac1, categories=("pass", "fail", "na"))

    return app


# --- the command ----------------------------------------------------------------------------------

def serve(
    db: Path = typer.Option(Path("qa.duckdb"), "--db", help="DuckDB file holding calls and scores."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this machine only)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    reviewer: Optional[str] = typer.Option(None, "--reviewer", help="Your name: every review is recorded as yours."),
    users: Optional[Path] = typer.Option(None, "--users", help="YAML or TOML users file (name, password_hash); reviewers sign in."),
) -> None:
    """Open the review workbench: review queue, review pages with the recording, calibration."""
    import uvicorn

    from qa.store import Store, StoreError

    try:
        Store(db, read_only=True).close()  # a qa database this version can read, or one line why not
        app = create_app(db, reviewer=reviewer, users=users)
    except (OSError, ValueError, StoreError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"review workbench on http://{host}:{port}/ (Ctrl+C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


if __name__ == "__main__":  # python -m qa.serve: print a password hash for a users file
    import getpass

    print(hash_password(getpass.getpass("password: ")))
