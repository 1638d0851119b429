"""Opening the clinic database: where it lives, SQLite settings, versioned migrations.

The store is one SQLite file in WAL mode, so a running session (writing from its own thread or
process) and the console (reading and writing from its request threads) never block each other
for long. ``PRAGMA user_version`` holds the schema version; :data:`MIGRATIONS` take a database
from any older version to the current one, each in its own transaction, so a crash mid-upgrade
leaves the previous version intact.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from mirrorvr.errors import MirrorVRError

#: Environment variable naming the clinic database file (overrides the default location).
DB_ENV = "MIRRORVR_CLINIC_DB"


class StoreError(MirrorVRError):
    """The clinic database is missing, unreadable, newer than this mirrorvr, or inconsistent."""


def default_db_path() -> Path:
    """``$MIRRORVR_CLINIC_DB``, else ``clinic.sqlite3`` in the user's data directory."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("mirrorvr", appauthor=False)) / "clinic.sqlite3"


# Each entry takes the schema from version i to i + 1. Never edit a released entry: add one.
MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE patients (
        id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
        amputation_side TEXT NOT NULL CHECK (amputation_side IN ('left', 'right')),
        amputation_level TEXT NOT NULL,
        amputation_date TEXT,
        notes TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL
    );
    CREATE TABLE screenings (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        date TEXT NOT NULL,
        answers TEXT NOT NULL,              -- JSON {item: true/false}
        cleared_by TEXT NOT NULL DEFAULT '', -- physician who weighed any "yes"
        notes TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE motor_thresholds (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        date TEXT NOT NULL,
        rmt_pct_mso REAL NOT NULL CHECK (rmt_pct_mso > 0 AND rmt_pct_mso <= 100),
        method TEXT NOT NULL
    );
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        date TEXT NOT NULL,
        plan_name TEXT NOT NULL,
        plan_toml TEXT NOT NULL,
        folder TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL DEFAULT 'planned',
        pulses_planned INTEGER NOT NULL DEFAULT 0,
        -- copied from the session's events.jsonl (authoritative) by import_session_log
        pulses_delivered INTEGER,
        estops INTEGER,
        deviations TEXT,                    -- JSON list of what did not go as planned
        imported_seq INTEGER,               -- last event seq the copy was made from
        notes TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE adverse_events (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        recorded TEXT NOT NULL,
        description TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('mild', 'moderate', 'severe')),
        relatedness TEXT NOT NULL DEFAULT 'unknown',
        action TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE ratings (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        session_id INTEGER REFERENCES sessions(id),
        date TEXT NOT NULL,
        timepoint TEXT NOT NULL,            -- pre, post, during, end-of-treatment, follow-up-N
        scale TEXT NOT NULL CHECK (scale IN ('nrs', 'vas')),
        value REAL NOT NULL,
        items TEXT,                         -- JSON: optional BPI / SF-MPQ-2 item scores
        source TEXT NOT NULL DEFAULT 'manual', -- manual | log (imported from events.jsonl)
        event_seq INTEGER,                  -- the rating event it was copied from
        UNIQUE (session_id, event_seq)
    );
    CREATE TABLE gmi_progress (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        date TEXT NOT NULL,
        stage TEXT NOT NULL,
        change TEXT NOT NULL CHECK (change IN ('start', 'progress', 'regress', 'repeat')),
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        t TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        patient_id TEXT,
        details TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX ratings_patient ON ratings(patient_id, date);
    CREATE INDEX sessions_patient ON sessions(patient_id, date);
    """,
    # 2: eligibility, courses of treatment and their visits, trials with sealed allocations
    # (mirrorvr.clinic.course_store holds the code that writes them)
    """
    CREATE TABLE eligibility (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        recorded TEXT NOT NULL,
        recorded_by TEXT NOT NULL DEFAULT '',
        answers TEXT NOT NULL               -- JSON {item: {"answer": yes|no|not_asked, ...}}
    );
    CREATE TABLE clinic_settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL                 -- JSON
    );
    CREATE TABLE courses (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        name TEXT NOT NULL,
        spec_toml TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('course', 'retreatment')),
        started TEXT NOT NULL,
        baseline REAL,                      -- NRS 0-10 at the start of the course
        trial_id TEXT,
        status TEXT NOT NULL DEFAULT 'active'
            CHECK (status IN ('active', 'completed', 'withdrawn', 'lost')),
        status_reason TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL
    );
    CREATE TABLE course_visits (
        id INTEGER PRIMARY KEY,
        course_id INTEGER NOT NULL REFERENCES courses(id),
        kind TEXT NOT NULL CHECK (kind IN ('session', 'booster', 'follow-up')),
        number INTEGER NOT NULL CHECK (number >= 1),
        label TEXT NOT NULL,
        date TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('done', 'missed')),
        session_id INTEGER REFERENCES sessions(id),
        outcomes TEXT NOT NULL DEFAULT '{}', -- JSON: instruments collected at this visit
        recorded TEXT NOT NULL,
        UNIQUE (course_id, kind, number)
    );
    CREATE TABLE trials (
        id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
        spec_toml TEXT NOT NULL,
        allocation_sha256 TEXT NOT NULL,    -- commitment to the sealed list below
        created TEXT NOT NULL
    );
    CREATE TABLE trial_allocation (          -- sealed: generated once, never changed
        trial_id TEXT NOT NULL REFERENCES trials(id),
        stratum TEXT NOT NULL,
        slot INTEGER NOT NULL,
        arm TEXT NOT NULL,
        PRIMARY KEY (trial_id, stratum, slot)
    );
    CREATE TABLE trial_patients (
        trial_id TEXT NOT NULL REFERENCES trials(id),
        patient_id TEXT NOT NULL REFERENCES patients(id),
        stage TEXT NOT NULL CHECK (stage IN ('screened', 'ineligible', 'randomised')),
        stratum TEXT,
        slot INTEGER,
        reason TEXT NOT NULL DEFAULT '',
        t TEXT NOT NULL,
        PRIMARY KEY (trial_id, patient_id)
    );
    CREATE TABLE unblindings (
        id INTEGER PRIMARY KEY,
        trial_id TEXT NOT NULL REFERENCES trials(id),
        patient_id TEXT,                    -- NULL: the whole trial
        t TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL CHECK (length(trim(reason)) > 0)
    );
    CREATE TRIGGER trial_allocation_sealed_u BEFORE UPDATE ON trial_allocation
        BEGIN SELECT RAISE(ABORT, 'the allocation is sealed'); END;
    CREATE TRIGGER trial_allocation_sealed_d BEFORE DELETE ON trial_allocation
        BEGIN SELECT RAISE(ABORT, 'the allocation is sealed'); END;
    CREATE TRIGGER trials_sealed_u BEFORE UPDATE ON trials
        BEGIN SELECT RAISE(ABORT, 'a registered trial is sealed'); END;
    CREATE TRIGGER trial_patients_randomised BEFORE UPDATE ON trial_patients
        WHEN OLD.stage = 'randomised'
        BEGIN SELECT RAISE(ABORT, 'a randomised patient keeps their allocation'); END;
    CREATE TRIGGER unblindings_final_u BEFORE UPDATE ON unblindings
        BEGIN SELECT RAISE(ABORT, 'unblinding is irreversible'); END;
    CREATE TRIGGER unblindings_final_d BEFORE DELETE ON unblindings
        BEGIN SELECT RAISE(ABORT, 'unblinding is irreversible'); END;
    CREATE INDEX courses_patient ON courses(patient_id, started);
    CREATE INDEX course_visits_course ON course_visits(course_id, date);
    """,
    # 3: the daily pulse budget as a reservation (issue 13): a session holds its planned pulses
    # for the patient's day from before its first pulse until its log says it ended
    """
    ALTER TABLE sessions ADD COLUMN pulses_reserved INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN reservation TEXT NOT NULL DEFAULT 'none'
        CHECK (reservation IN ('none', 'held', 'settled'));
    """,
    # 4: midline calibrations from session logs, reused by later sessions of the patient
    """
    CREATE TABLE midlines (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        session_id INTEGER REFERENCES sessions(id),
        date TEXT NOT NULL,
        method TEXT NOT NULL,
        point_x REAL NOT NULL, point_y REAL NOT NULL, point_z REAL NOT NULL,
        normal_x REAL NOT NULL, normal_y REAL NOT NULL, normal_z REAL NOT NULL,
        event_seq INTEGER,
        UNIQUE (session_id, event_seq)
    );
    CREATE INDEX midlines_patient ON midlines(patient_id, id);
    """,
    # how the patient's virtual limbs look (clinic/appearance.py); one row per patient
    """
    CREATE TABLE patient_appearance (
        patient_id TEXT PRIMARY KEY REFERENCES patients(id),
        skin TEXT NOT NULL CHECK (skin GLOB '#[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]'),
        sleeve TEXT NOT NULL CHECK (sleeve GLOB '#[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]'),
        hand_length_cm REAL CHECK (hand_length_cm IS NULL OR hand_length_cm BETWEEN 12 AND 26),
        hand_width_cm REAL CHECK (hand_width_cm IS NULL OR hand_width_cm BETWEEN 5 AND 13),
        updated TEXT NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the database at ``path``."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: every write is in an explicit BEGIN IMMEDIATE ... COMMIT (see store)
        conn = sqlite3.connect(p, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a committed row survives a power cut
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        migrate(conn, p)
    except sqlite3.DatabaseError as e:
        raise StoreError(
            f"{p}: cannot open the clinic database ({e}); check the path or "
            f"set {DB_ENV} to another file"
        ) from None
    except OSError as e:
        raise StoreError(f"{p}: cannot create the clinic database ({e})") from None
    return conn


def migrate(conn: sqlite3.Connection, path: Path, target: int = SCHEMA_VERSION) -> int:
    """Apply every migration above the file's version, up to ``target``; returns the version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: schema version {version} is newer than this mirrorvr knows "
            f"({SCHEMA_VERSION}); upgrade mirrorvr before opening it"
        )
    while version < target:
        script = MIGRATIONS[version]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version += 1
    return version


def _statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit on its own)."""
    out, buf = [], ""
    for line in script.splitlines():
        buf += line.split("--", 1)[0] + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
