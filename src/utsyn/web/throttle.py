"""Login throttling: exponential back-off per address, per account and address, and per
account, kept in the database (`store.logins`) so a restart or another process forgets
nothing. There is no lock-out: only waits, and the wait someone elsewhere can impose on an
account is short.

The rule (defaults in brackets, settings in `web.settings`):

- **per address**: the `UTSYN_LOGIN_ATTEMPTS_PER_ADDRESS`th [20th] failed login from one
  address, whatever the accounts, makes the address wait `UTSYN_LOGIN_FIRST_WAIT_SECONDS`
  [1 s], and each further failure doubles the wait: 2 s, 4 s … up to
  `UTSYN_LOGIN_MAX_WAIT_SECONDS` [1 hour];
- **per account from one address**: from the `UTSYN_LOGIN_ATTEMPTS_PER_ACCOUNT`th [5th]
  failure for one account from one address, the same doubling up to the same hour, for that
  account from that address only;
- **per account from anywhere**: from the `UTSYN_LOGIN_ATTEMPTS_PER_ACCOUNT`th [5th]
  failure for one account from all addresses together, the doubling stops at
  `UTSYN_LOGIN_ACCOUNT_MAX_WAIT_SECONDS` [60 s]. So guessing from elsewhere delays a
  correct login from a new address by a minute at most, while a guesser spread over many
  addresses still gets about one guess a minute per account;
- **known addresses**: an address the account logged in from within
  `UTSYN_LOGIN_KNOWN_DAYS` [90] is spared the per-address and the account-wide waits (not
  the wait of that account from that address). So guessing from elsewhere does not delay
  a user at their usual address at all, nor do guesses at other accounts from a shared
  address (an office's NAT) keep its regular users out. Only someone guessing this very
  account from this very address can make its user wait there;
- a failure is forgotten after `UTSYN_LOGIN_FORGET_HOURS` [24] without another for the
  same key; a correct password clears only the count of that account from that address:
  not the address's (an attacker must not reset their address by logging in to an account
  of their own) and not the account-wide one (the user logging in must not hand a
  spread-out guesser a fresh set of free tries; that wait is short anyway).

A throttled attempt is answered 429 with Retry-After before the password is checked (so it
is not counted either) and audited `login:throttled`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from utsyn.store import logins
from utsyn.store.db import one_transaction
from utsyn.web.settings import WebSettings


class LoginThrottle:
    def __init__(self, settings: WebSettings) -> None:
        first, most = settings.login_first_wait_seconds, settings.login_max_wait_seconds
        forget = timedelta(hours=settings.login_forget_hours)
        per_account = settings.login_attempts_per_account
        self.address = logins.Backoff(settings.login_attempts_per_address, first, most, forget)
        self.pair = logins.Backoff(per_account, first, most, forget)
        self.account = logins.Backoff(
            per_account, first, settings.login_account_max_wait_seconds, forget
        )
        self.forget = forget
        self.known = timedelta(days=settings.login_known_days)

    def retry_after(self, session: Session, account: str, address: str, now: datetime) -> int:
        """Seconds before this attempt may be checked; 0 when it may be now."""
        keys = [_pair(account, address)]
        if not logins.known_address(session, account, address, now - self.known):
            keys += [_address(address), _account(account)]
        return logins.blocked_for(session, keys, now)

    def failed(self, session: Session, account: str, address: str, now: datetime) -> None:
        with one_transaction(session):
            logins.forget_failures(session, now - self.forget)
            logins.record_failure(session, _address(address), self.address, now)
            logins.record_failure(session, _pair(account, address), self.pair, now)
            logins.record_failure(session, _account(account), self.account, now)

    def succeeded(self, session: Session, account: str, address: str, now: datetime) -> None:
        with one_transaction(session):
            logins.clear(session, [_pair(account, address)])
            logins.forget_addresses(session, now - self.known)
            if self.known:
                logins.note_success(session, account, address, now)


def _address(address: str) -> str:
    return f"address:{address}"


def _pair(account: str, address: str) -> str:
    return f"pair:{address} {account}"


def _account(account: str) -> str:
    return f"account:{account}"
