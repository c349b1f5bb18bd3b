"""The database schema: SQLAlchemy 2.0 typed models, identical on SQLite and PostgreSQL.

Its conventions and the design of the national rollups: docs/architecture.md, "The store".
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from utsyn.errors import ConfigError
from utsyn.orgnr import is_valid_orgnr

# Named constraints so that migrations can alter them on both backends.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ASSET_KINDS = ("domain", "hostname", "ip", "service")
ASSET_STATES = ("discovered", "claimed", "verified", "rejected")
RUN_STATUSES = ("running", "done", "interrupted")
ROLES = ("national_admin", "national_analyst", "org_admin", "org_viewer")
EXPLANATION_KINDS = ("accepted_risk", "false_positive", "compensating_control")
REVIEWS = ("pending", "accepted", "rejected")
ALERT_CHANNELS = ("webhook", "email")

# SQLite only aliases ROWID (and so autoincrements) for a column declared exactly INTEGER.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends; a naive datetime is refused, not guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store aware UTC times")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: Json}


class Organisation(Base):
    __tablename__ = "organisation"
    __table_args__ = (CheckConstraint("length(orgnr) = 9", name="orgnr_length"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    orgnr: Mapped[str] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    org_form: Mapped[str | None] = mapped_column(String(8))  # Enhetsregisteret: KOMM, STAT, ..
    sector: Mapped[str | None] = mapped_column(String(32), index=True)
    county: Mapped[str | None] = mapped_column(String(2), index=True)  # 2024 numbers
    municipality: Mapped[str | None] = mapped_column(String(4), index=True)
    primary_domain: Mapped[str | None] = mapped_column(String(253))
    created: Mapped[datetime]
    updated: Mapped[datetime]

    @validates("orgnr")
    def _valid_orgnr(self, _key: str, value: str) -> str:
        if not is_valid_orgnr(value):
            raise ConfigError("%(orgnr)r is not a valid organisation number (mod 11)", orgnr=value)
        return value


class Asset(Base):
    __tablename__ = "asset"
    __table_args__ = (
        UniqueConstraint("org_id", "kind", "value"),
        _one_of("kind", ASSET_KINDS),
        _one_of("state", ASSET_STATES),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(300), index=True)  # "who owns this name?"
    state: Mapped[str] = mapped_column(String(16))
    verification_token: Mapped[str | None] = mapped_column(String(128))  # DNS TXT value
    verified_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(100))  # "import:<file>", "discovery:ct", ...
    shared: Mapped[bool] = mapped_column(Boolean, default=False)  # shared hosting or CDN
    created: Mapped[datetime]


class ScanRun(Base):
    __tablename__ = "scan_run"
    __table_args__ = (_one_of("status", RUN_STATUSES),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    started: Mapped[datetime]
    finished: Mapped[datetime | None]
    scope: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), index=True)
    rulebook_version: Mapped[str] = mapped_column(String(32))
    stats: Mapped[dict[str, Any]]


class TargetScan(Base):
    """One zone or one host of one organisation, as one run scanned it.

    A name can be both (`example.no` is a mail domain and serves the web site): the zone
    result and the host result are two rows, told apart by `kind`.
    """

    __tablename__ = "target_scan"
    __table_args__ = (
        UniqueConstraint("run_id", "org_id", "kind", "target"),
        # The latest result per (organisation, kind, target): re-rating without rescanning.
        Index("ix_target_scan_org_kind_target", "org_id", "kind", "target", "id"),
        CheckConstraint("kind IN ('domain', 'host')", name="kind"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scan_run.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(8))
    # Why this target was scanned: "" for the footprint's own names, "mx:<domain>" for a
    # mail exchanger followed from a domain's MX records.
    via: Mapped[str] = mapped_column(String(300), server_default="")
    seconds: Mapped[float] = mapped_column(Float)
    written: Mapped[datetime]


class Observation(Base):
    __tablename__ = "observation"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    target_scan_id: Mapped[int] = mapped_column(
        ForeignKey("target_scan.id", ondelete="CASCADE"), index=True
    )
    check: Mapped[str] = mapped_column(String(120))
    target: Mapped[str] = mapped_column(String(300))
    value: Mapped[Any] = mapped_column(Json, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    probe: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    time: Mapped[str] = mapped_column(String(40))  # as the scanner wrote it (ISO 8601)
    # The last successful observation, kept because this scan's check failed.
    carried: Mapped[bool] = mapped_column(Boolean, server_default=false())


class Finding(Base):
    __tablename__ = "finding"
    __table_args__ = (UniqueConstraint("org_id", "key"), Index("ix_finding_rule", "rule"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(String(120))
    asset: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    resolved: Mapped[datetime | None]


class Explanation(Base):
    __tablename__ = "explanation"
    __table_args__ = (_one_of("kind", EXPLANATION_KINDS), _one_of("review", REVIEWS))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    finding_id: Mapped[int] = mapped_column(
        ForeignKey("finding.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(254))
    created: Mapped[datetime]
    expires: Mapped[datetime]
    review: Mapped[str] = mapped_column(String(16), index=True)  # the reviewers' queue
    reviewer: Mapped[str | None] = mapped_column(String(254))
    reviewed_at: Mapped[datetime | None]


class ScoreSnapshot(Base):
    __tablename__ = "score_snapshot"
    __table_args__ = (UniqueConstraint("org_id", "day", "rulebook_version"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    rulebook_version: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(1))
    factors: Mapped[dict[str, Any]]  # factor → score
    penalties: Mapped[dict[str, Any]]  # rule → points lost (the rules that counted)
    saved: Mapped[datetime]  # the last time this day's rating was (re)saved
    # The dimensions this snapshot is counted under in the daily rollups (ScoreDay).
    sector: Mapped[str] = mapped_column(String(32), server_default="")
    county: Mapped[str] = mapped_column(String(2), server_default="")
    municipality: Mapped[str] = mapped_column(String(4), server_default="")


class User(Base):
    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL
    __table_args__ = (_one_of("role", ROLES),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisation.id", ondelete="SET NULL"), index=True
    )
    created: Mapped[datetime]
    # A disabled account cannot log in and its sessions and tokens stop working at once.
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=false())


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex, never the token
    created: Mapped[datetime]
    expires: Mapped[datetime]  # every token expires (`UTSYN_TOKEN_MAX_DAYS` at most)
    last_used: Mapped[datetime | None]


class PasswordReset(Base):
    """A one-time link to set a new password: its SHA-256 only, used once, then spent."""

    __tablename__ = "password_reset"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime]
    expires: Mapped[datetime]


class SessionRevocation(Base):
    """A logged-out session id (its SHA-256), kept until its cookie would have lapsed."""

    __tablename__ = "session_revocation"

    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class OidcIdentity(Base):
    """A person at an OpenID provider (its name and their `sub`) and their local account."""

    __tablename__ = "oidc_identity"

    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created: Mapped[datetime]
    last_login: Mapped[datetime]


class OidcNonce(Base):
    """The nonce of an ID token already used (its SHA-256), kept until the token expires."""

    __tablename__ = "oidc_nonce"

    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginThrottle(Base):
    """Failed logins of one key (`address:…`, `pair:…`, `account:…`) and its back-off."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    blocked_until: Mapped[datetime | None]


class LoginAddress(Base):
    """An address an account logged in from: exempt from the account-wide back-off."""

    __tablename__ = "login_address"

    account: Mapped[str] = mapped_column(String(254), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_success: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Portfolio(Base):
    __tablename__ = "portfolio"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    created: Mapped[datetime]


class PortfolioMember(Base):
    __tablename__ = "portfolio_member"

    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("portfolio.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Scorecard(Base):
    """A named subset of one organisation's assets, scored on its own."""

    __tablename__ = "scorecard"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    score: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(String(1))
    rulebook_version: Mapped[str | None] = mapped_column(String(32))
    scored: Mapped[datetime | None]


class ScorecardAsset(Base):
    __tablename__ = "scorecard_asset"

    scorecard_id: Mapped[int] = mapped_column(
        ForeignKey("scorecard.id", ondelete="CASCADE"), primary_key=True
    )
    asset_id: Mapped[int] = mapped_column(
        ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True
    )


class Alert(Base):
    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    payload: Mapped[dict[str, Any]]
    created: Mapped[datetime]
    delivered: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Delivery status over every channel (revision 0003_feeds); per channel in AlertDelivery.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)


class AlertDelivery(Base):
    """One channel's delivery of one alert: a webhook that succeeded is not sent again
    when only the e-mail has to be retried."""

    __tablename__ = "alert_delivery"
    __table_args__ = (_one_of("channel", ALERT_CHANNELS),)

    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alert.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered: Mapped[datetime | None]
    failed: Mapped[datetime | None]  # given up: a permanent refusal or attempts spent


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]]


class OrgLatest(Base):
    __tablename__ = "org_latest"
    __table_args__ = (
        Index("ix_org_latest_county_grade", "county", "grade"),
        Index("ix_org_latest_municipality_grade", "municipality", "grade"),
        Index("ix_org_latest_sector_grade", "sector", "grade"),
        Index("ix_org_latest_score", "score"),
    )

    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True
    )
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("score_snapshot.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    rulebook_version: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(1))
    sector: Mapped[str] = mapped_column(String(32))
    county: Mapped[str] = mapped_column(String(2))
    municipality: Mapped[str] = mapped_column(String(4))
    active: Mapped[bool] = mapped_column(Boolean)
    rules: Mapped[list[str]] = mapped_column(Json)  # the rules that counted, sorted
    updated: Mapped[datetime]


class OrgAssessment(Base):
    """What the organisation's latest rating was computed from, and that rating, whole.

    `assets` (the assets its scans evaluated) are written when it is scanned; `rating` (the
    rating model's output: score, areas, every finding's points, caps) each time it is
    rated. Views show this rating instead of computing one, so a page, the board summary,
    the API and the snapshot give one answer; a re-rating starts from `assets` and the
    counting findings, never from the observations again.
    """

    __tablename__ = "org_assessment"

    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True
    )
    assets: Mapped[list[Any]] = mapped_column(Json)  # [[id, factor, value, primary], ...]
    assessed: Mapped[datetime]
    rating: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    rated: Mapped[datetime | None]


class GradeCount(Base):
    __tablename__ = "grade_count"

    rulebook_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    sector: Mapped[str] = mapped_column(String(32), primary_key=True)
    county: Mapped[str] = mapped_column(String(2), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    grade: Mapped[str] = mapped_column(String(1), primary_key=True)
    orgs: Mapped[int] = mapped_column(Integer)
    score_tenths: Mapped[int] = mapped_column(BigInteger, server_default="0")


class IssueCount(Base):
    __tablename__ = "issue_count"
    __table_args__ = (Index("ix_issue_count_rule", "rule"),)

    rulebook_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule: Mapped[str] = mapped_column(String(120), primary_key=True)
    sector: Mapped[str] = mapped_column(String(32), primary_key=True)
    county: Mapped[str] = mapped_column(String(2), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    orgs: Mapped[int] = mapped_column(Integer)


class MunicipalityGradeCount(Base):
    __tablename__ = "municipality_grade_count"

    municipality: Mapped[str] = mapped_column(String(4), primary_key=True)
    rulebook_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    sector: Mapped[str] = mapped_column(String(32), primary_key=True)
    county: Mapped[str] = mapped_column(String(2), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    grade: Mapped[str] = mapped_column(String(1), primary_key=True)
    orgs: Mapped[int] = mapped_column(Integer)
    score_tenths: Mapped[int] = mapped_column(BigInteger)


class MunicipalityIssueCount(Base):
    __tablename__ = "municipality_issue_count"

    municipality: Mapped[str] = mapped_column(String(4), primary_key=True)
    rulebook_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule: Mapped[str] = mapped_column(String(120), primary_key=True)
    sector: Mapped[str] = mapped_column(String(32), primary_key=True)
    county: Mapped[str] = mapped_column(String(2), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    orgs: Mapped[int] = mapped_column(Integer)


class ScoreDay(Base):
    __tablename__ = "score_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rulebook_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    sector: Mapped[str] = mapped_column(String(32), primary_key=True)
    county: Mapped[str] = mapped_column(String(2), primary_key=True)
    orgs: Mapped[int] = mapped_column(Integer)
    score_tenths: Mapped[int] = mapped_column(BigInteger)


class NationalScoreDay(Base):
    """`ScoreDay` summed over sectors and counties: the national trend is 365 rows a year."""

    __tablename__ = "national_score_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rulebook_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    orgs: Mapped[int] = mapped_column(Integer)
    score_tenths: Mapped[int] = mapped_column(BigInteger)


class MunicipalityScoreDay(Base):
    __tablename__ = "municipality_score_day"

    municipality: Mapped[str] = mapped_column(String(4), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rulebook_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    sector: Mapped[str] = mapped_column(String(32), primary_key=True)
    county: Mapped[str] = mapped_column(String(2), primary_key=True)
    orgs: Mapped[int] = mapped_column(Integer)
    score_tenths: Mapped[int] = mapped_column(BigInteger)


class FeedGeneration(Base):
    """One verified set of vulnerability feed files, `data_dir/feeds/<name>/`.

    The records stay in the files (see utsyn.vuln.feeds): the database keeps where each
    file came from and what changed, so an alert can say which update brought a CVE.
    """

    __tablename__ = "feed_generation"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(Text)  # the directory or base URL it came from
    previous: Mapped[str | None] = mapped_column(String(64))  # the generation it replaced
    digest: Mapped[str] = mapped_column(String(64))  # over the manifest and every file's sha256
    created: Mapped[datetime]
    counts: Mapped[dict[str, Any]]  # feed → records
    changes: Mapped[dict[str, Any]]  # new KEV entries, new and withdrawn CVE ids, alerts


class FeedFile(Base):
    """One file of a generation, with the HTTP validators that make the next update cheap."""

    __tablename__ = "feed_file"
    __table_args__ = (UniqueConstraint("generation_id", "path"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("feed_generation.id", ondelete="CASCADE"))
    feed: Mapped[str] = mapped_column(String(32))  # the manifest's name: "kev", "nvd", ...
    path: Mapped[str] = mapped_column(String(500))  # inside the generation
    source_url: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(64))  # the HTTP-date, verbatim
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    file_date: Mapped[date] = mapped_column(Date)
    loaded_at: Mapped[datetime]
    records: Mapped[int] = mapped_column(Integer)
    fetched: Mapped[bool] = mapped_column(Boolean)  # False: kept from the previous generation
