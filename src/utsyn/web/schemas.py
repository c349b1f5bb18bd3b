"""The API's request and response bodies (pydantic models; they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from utsyn.rating.explain import binding_caps
from utsyn.rating.model import Rating

T = TypeVar("T")
Grade = Literal["A", "B", "C", "D", "F"]
ExplanationKind = Literal["accepted_risk", "false_positive", "compensating_control"]
FindingStatus = Literal["open", "disputed", "explained", "stale", "resolved"]
# A DNS name of two or more labels (the length limit is max_length).
HOSTNAME = (
    r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)


def _no_nul(text: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


FreeText = Annotated[str, AfterValidator(_no_nul)]


class Paged(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="Items matching, over all pages.")
    limit: int
    offset: int


class Me(BaseModel):
    email: str
    role: str
    orgnr: str | None


class OrganisationOut(BaseModel):
    orgnr: str
    name: str
    sector: str | None
    county: str | None
    municipality: str | None
    primary_domain: str | None
    score: float | None = Field(description="The latest stored score; null if never rated.")
    grade: Grade | None
    rulebook_version: str | None
    rated_on: date | None


class CapOut(BaseModel):
    rule: str
    grade: Grade
    asset: str
    binding: bool = Field(description="True: this cap made the grade worse than the score's.")

    @classmethod
    def of(cls, rating: Rating) -> list[CapOut]:
        binding = binding_caps(rating)
        return [
            cls(rule=c.rule, grade=c.grade, asset=c.asset, binding=c in binding)
            for c in rating.caps
        ]


class PenaltyOut(BaseModel):
    rule: str
    factor: str
    points: float


class RatingOut(BaseModel):
    orgnr: str
    score: float
    grade: Grade
    score_grade: Grade = Field(description="The grade of the score alone, before caps.")
    factors: dict[str, float] = Field(
        description="Each area's own score (100 minus its losses), as kept in the history."
    )
    lost_by_area: dict[str, float] = Field(
        description="Points lost per area, one decimal: they add up to 100 − score (more "
        "when the score stopped at 0)."
    )
    caps: list[CapOut] = Field(description="Grade caps that hold; `binding` ones set the grade.")
    penalties: list[PenaltyOut]
    rulebook_version: str
    rated_at: datetime


class ExplanationOut(BaseModel):
    id: int
    orgnr: str
    finding_key: str
    kind: ExplanationKind
    reason: str
    author: str
    created: datetime
    expires: datetime
    review: Literal["pending", "accepted", "rejected"]
    reviewer: str | None
    reviewed_at: datetime | None


class FindingOut(BaseModel):
    id: int
    key: str
    rule: str
    title: str
    description: str
    remediation: str
    severity: str
    factor: str
    references: list[str]
    asset: str
    detail: str
    evidence: str = Field(description="As the scanned server sent it: escape before showing.")
    first_seen: datetime
    last_seen: datetime
    resolved: datetime | None
    age_days: int
    status: FindingStatus
    points: float = Field(description="Its share of the points the organisation loses now.")
    recover: float = Field(description="Points fixing this finding alone would give back.")
    explanation: ExplanationOut | None


class SnapshotOut(BaseModel):
    day: date
    score: float
    grade: Grade
    rulebook_version: str
    factors: dict[str, float]


class PlanIn(BaseModel):
    fix: list[Annotated[FreeText, Field(max_length=2000)]] = Field(
        min_length=1, max_length=1000, description="Finding keys or rule ids."
    )


class PlanOut(BaseModel):
    current: float
    projected: float
    grade_now: Grade
    grade_projected: Grade
    fixed: list[str]
    unknown: list[str] = Field(description="Keys or rule ids that matched no counting finding.")


class ExplanationIn(BaseModel):
    key: Annotated[FreeText, Field(min_length=1, max_length=2000)]
    kind: ExplanationKind
    reason: Annotated[FreeText, Field(min_length=10, max_length=4000)]
    expires: AwareDatetime = Field(description="At most 365 days ahead.")


class ExplainedOut(BaseModel):
    explanation: ExplanationOut
    score_before: float | None
    grade_before: Grade | None
    score: float
    grade: Grade


class ReviewIn(BaseModel):
    accept: bool
    note: Annotated[FreeText, Field(max_length=2000, description="Why (in the audit log).")] = ""


class VerificationRecord(BaseModel):
    name: str = Field(description="Where the TXT record goes: _utsyn-verify.<domain>.")
    value: str = Field(description="The TXT record's value: utsyn-verify=<token>.")


class AssetOut(BaseModel):
    id: int
    kind: str
    value: str
    state: Literal["discovered", "claimed", "verified", "rejected"]
    shared: bool
    source: str
    created: datetime
    verified_at: datetime | None
    verification: VerificationRecord | None = Field(
        description="Shown to those who may change the footprint."
    )


class AssetIn(BaseModel):
    kind: Literal["domain", "hostname"]
    value: Annotated[str, Field(pattern=HOSTNAME, max_length=253)]


class VerifyOut(BaseModel):
    verified: bool
    state: str
    record: VerificationRecord
    detail: str


class RuleOut(BaseModel):
    id: str
    factor: str
    severity: str
    points: float
    decay_days: int
    cap: Grade | None
    title: str
    description: str
    remediation: str
    references: list[str]
    csf: list[str]


class TokenIn(BaseModel):
    name: Annotated[FreeText, Field(min_length=1, max_length=100)]
    days: int = Field(
        default=90,
        ge=1,
        le=365,
        description="Lifetime in days; every token expires, at most UTSYN_TOKEN_MAX_DAYS.",
    )


class TokenOut(BaseModel):
    id: int
    name: str
    created: datetime
    expires: datetime
    last_used: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown this once; only its SHA-256 is kept.")


Role = Literal["national_admin", "national_analyst", "org_admin", "org_viewer"]
OrgNr = Annotated[str, Field(pattern=r"^[0-9]{9}$", description="Organisation number.")]


class UserOut(BaseModel):
    id: int
    email: str
    role: Role
    orgnr: str | None
    disabled: bool
    created: datetime


class UserPatch(BaseModel):
    """What to change; what is left out stays. An organisation role needs `orgnr`."""

    role: Role | None = None
    orgnr: OrgNr | None = None
    disabled: bool | None = None


class ResetOut(BaseModel):
    url: str = Field(description="The one-time link that sets a new password; shown once.")
    expires: datetime


class GradeShareOut(BaseModel):
    grade: Grade
    orgs: int
    percent: float


class SummaryOut(BaseModel):
    orgs: int
    active: int = Field(description="Organisations with a verified asset.")
    inactive: int
    average: float | None
    grade: Grade | None = Field(description="The grade of the average score.")
    grades: list[GradeShareOut]


class OrgScoreOut(BaseModel):
    orgnr: str
    name: str
    score: float
    grade: Grade
    sector: str
    county: str
    municipality: str


class IssueShareOut(BaseModel):
    rule: str
    title: str | None = Field(description="Null for a rule the shipped rulebook lacks.")
    severity: str | None
    orgs: int
    percent: float


class TrendPointOut(BaseModel):
    day: date
    rulebook_version: str
    orgs: int
    average: float
    grade: Grade


class DashboardOut(BaseModel):
    summary: SummaryOut
    worst: list[OrgScoreOut]
    critical: list[IssueShareOut]
    common: list[IssueShareOut]
    trend: list[TrendPointOut]


class AreaOut(BaseModel):
    key: str = Field(description="The sector, county or municipality ('' when unknown).")
    summary: SummaryOut


class PortfolioOut(BaseModel):
    id: int
    name: str
    created: datetime
