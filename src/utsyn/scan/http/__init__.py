"""HTTP(S) checks: the home page, its headers and HTML, security.txt, exposed files, and the
redirect chain of plain-HTTP services.

One job per module: `response.py` reads one capped response, `client.py` is the HTTP/1.1
client (sessions, time and connection caps), `legacy.py` the tlslite-ng channel for servers
OpenSSL cannot speak to, `html.py`, `securitytxt.py` and `exposure.py` read what came back,
`observations.py` turns it into observations, and `family.py` holds the jobs.
"""

from utsyn.scan.http.family import HttpFamily

__all__ = ["HttpFamily"]
