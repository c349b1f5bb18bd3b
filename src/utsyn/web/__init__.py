"""The web service: REST API v1, access control, i18n, and the core the dashboard builds on.

- `app`: `create_app(settings, engine)` (`utsyn serve` in `utsyn.cli.web` runs it).
- `deps`: the context, database sessions, `Principal` (who is asking) and the role rules.
- `auth`: login, logout, the app-wide CSRF guard; `sessions`: the signed session cookie.
- `security`: password hashes, API tokens, security headers; `throttle`: login back-off;
  `passwords`: the password policy; `accounts`, `api_users`, `pages_users`: the account
  lifecycle.
- `i18n`: the request's language (the words are `utsyn.i18n`'s); `templates`: Jinja2
  rendering; `pages`: the core pages and the page guards (`PagePrincipal`, `PageOrganisation`).
- `api`, `api_dashboards`, `schemas`, `problems`: /api/v1, its bodies and its errors.
- `ratings`: what views show of ratings (as `rating/` produced them); `verify`: DNS TXT
  verification of footprints; `settings`: the web's `UTSYN_*` variables.

See README.md beside this file.
"""
