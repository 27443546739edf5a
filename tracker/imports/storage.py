"""An uploaded file between the import's steps (upload, columns, check, import), kept on the server.

Files live under <instance>/imports/<user id>/, named by a random token: a user can only ever reach their own,
the session cookie never carries them, and the browser never re-sends them. The file is deleted when the import
commits; anything older than KEEP is deleted at the user's next upload. A small result file keeps the summary
for the page shown after the import (counts only, no patient data). The check page keeps its checked lines
(`keep_check`) so the import need not check every line again; signed with the app's key, since unpickling runs
code."""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import os
import pickle  # nosec B403: only our own HMAC-signed check files are read back (kept_check)
import re
import secrets
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024
KEEP_SECONDS = 24 * 3600
LOCK_LEASE_SECONDS = 15 * 60  # longer than gunicorn's --timeout 600 (README): no live import holds it longer
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
_SIGNATURE = hashlib.sha256().digest_size


class AlreadyRunning(Exception):
    """The same upload is being imported by another request (a double click, a second tab)."""


@dataclass
class Upload:
    token: str
    filename: str
    data: bytes
    mapping: dict[str, int | None] | None


def display_name(filename: str | None) -> str:
    """The file's own name without any folder, for pages and audit notes (never used as a path)."""
    name = re.split(r"[\\/]", filename or "")[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:120] or "upload.csv"


class UploadStore:
    def __init__(self, instance_path: str, user_id: int):
        self.folder = Path(instance_path) / "imports" / str(int(user_id))

    def _path(self, token: str, suffix: str) -> Path | None:
        return self.folder / f"{token}{suffix}" if token and _TOKEN.match(token) else None

    def save(self, data: bytes, filename: str) -> str:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.purge_expired()
        token = secrets.token_urlsafe(24)
        self._write(self._path(token, ".csv"), data)
        self._write(self._path(token, ".json"), json.dumps({"filename": filename, "mapping": None}).encode())
        return token

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)

    def load(self, token: str) -> Upload | None:
        data_path, meta_path = self._path(token, ".csv"), self._path(token, ".json")
        if data_path is None or not data_path.exists() or not meta_path.exists():
            return None
        if time.time() - data_path.stat().st_mtime > KEEP_SECONDS:
            return None
        meta = json.loads(meta_path.read_text())
        return Upload(token, meta["filename"], data_path.read_bytes(), meta["mapping"])

    def set_mapping(self, token: str, mapping: dict[str, int | None]) -> None:
        upload = self.load(token)
        if upload is not None:
            self._write(
                self._path(token, ".json"), json.dumps({"filename": upload.filename, "mapping": mapping}).encode()
            )

    def keep_check(self, token: str, checked: object, key: bytes) -> None:
        """The check page's result for the import to carry (tracker.clinical.import_rows.CheckedFile)."""
        path = self._path(token, ".checked")
        if path is None or not self._path(token, ".csv").exists():
            return
        data = pickle.dumps(checked, protocol=pickle.HIGHEST_PROTOCOL)
        self._write(path, hmac.new(key, data, hashlib.sha256).digest() + data)

    def kept_check(self, token: str, key: bytes) -> object | None:
        """What `keep_check` kept, if this app signed it and this code can still read it; else None (the import
        then checks every line itself)."""
        path = self._path(token, ".checked")
        if path is None or not path.exists() or time.time() - path.stat().st_mtime > KEEP_SECONDS:
            return None
        content = path.read_bytes()
        signature, data = content[:_SIGNATURE], content[_SIGNATURE:]
        if not hmac.compare_digest(signature, hmac.new(key, data, hashlib.sha256).digest()):
            return None
        collecting = gc.isenabled()
        gc.disable()  # tens of thousands of rows: the cycle collector ran over them again and again (3x the load)
        try:
            return pickle.loads(data)  # nosec B301: the HMAC with the app key matched first
        except (pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError, ValueError):
            return None  # kept by an older version of the code
        finally:
            if collecting:
                gc.enable()

    @contextmanager
    def running(self, token: str):
        """Held while an import runs; a second attempt at the same upload raises AlreadyRunning. The lock names
        its holder (process, host, start): one left by a killed worker, or older than the longest import,
        is taken over, so the upload can still be imported."""
        lock = self._path(token, ".lock")
        for _ in range(2):
            try:
                descriptor = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                if not _abandoned(lock):
                    raise AlreadyRunning from None
                lock.unlink(missing_ok=True)  # then try once more: a racing taker may win, and the loser waits
                continue
            with os.fdopen(descriptor, "w") as out:
                out.write(f"{os.getpid()} {socket.gethostname()} {time.time()}")
            break
        else:
            raise AlreadyRunning
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)

    def finish(self, token: str, summary: dict) -> None:
        """The import committed: the file goes, the summary stays for the result page."""
        self._write(self._path(token, ".result.json"), json.dumps(summary).encode())
        for suffix in (".csv", ".json", ".checked"):
            self._path(token, suffix).unlink(missing_ok=True)

    def result(self, token: str) -> dict | None:
        path = self._path(token, ".result.json")
        if path is None or not path.exists():
            return None
        return json.loads(path.read_text())

    def purge_expired(self) -> int:
        if not self.folder.exists():
            return 0
        cutoff, gone = time.time() - KEEP_SECONDS, 0
        for path in self.folder.iterdir():
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                gone += 1
        return gone


def purge_abandoned_uploads(instance_path: str) -> int:
    """Every user's uploads older than KEEP_SECONDS (the nightly housekeeping job): files abandoned before the
    import hold patient data and must not wait for that user's next upload. Returns how many files went."""
    root = Path(instance_path) / "imports"
    if not root.exists():
        return 0
    return sum(
        UploadStore(instance_path, int(folder.name)).purge_expired()
        for folder in root.iterdir()
        if folder.is_dir() and folder.name.isdigit()
    )


def _abandoned(lock: Path) -> bool:
    """A lock whose process is gone (same host), or older than an import can run, or unreadable and old."""
    try:
        pid, host, started = lock.read_text().split()
        pid, started = int(pid), float(started)
    except (OSError, ValueError):  # being written this instant, or from an older version: judge by age
        try:
            return time.time() - lock.stat().st_mtime > LOCK_LEASE_SECONDS
        except OSError:
            return True
    if time.time() - started > LOCK_LEASE_SECONDS:
        return True
    if host != socket.gethostname():
        return False  # another machine's worker: only the lease can end it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
