"""Deciding a dispute: the one path for POST /api/v1/disputes/{id}/review and /tvister.

A dispute is an explanation that waits for a national review (`rating.lifecycle.
needs_review`): a false-positive claim, or an accepted risk or compensating control of a
high or critical finding. A national admin other than its author accepts or rejects it
(`store.findings.review_dispute`, audited with the reviewer's note), and the organisation
is re-rated at once so its score follows the decision.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.pipeline import rate_organisation
from utsyn.rules.rulebook import Rulebook
from utsyn.store import findings, reads
from utsyn.web.deps import Principal
from utsyn.web.i18n import N_
from utsyn.web.problems import Problem, not_found

NOTE_LENGTH = 2000


def decide(
    session: Session,
    principal: Principal,
    explanation_id: int,
    accept: bool,
    book: Rulebook,
    note: str = "",
) -> reads.ExplainedFinding:
    """Accept or reject a pending dispute in the reviewer's scope; 404, 409 or 403 otherwise."""
    if not principal.is_admin:
        raise Problem(403, N_("Forbidden"), N_("Only a national administrator may do this."))
    found = reads.explanation(session, principal.scope, explanation_id)
    if found is None or not reads.under_review(found.explanation):
        raise not_found()
    if found.explanation.review != "pending":
        raise Problem(409, N_("Conflict"), N_("This dispute has been reviewed already."))
    if found.explanation.author == principal.email:
        raise Problem(
            409, N_("Conflict"), N_("A dispute is reviewed by someone other than its author.")
        )
    findings.review_dispute(
        session, explanation_id, accept, principal.email, now_utc(), note.strip()
    )
    rate_organisation(session, found.organisation.orgnr, book)
    return found
