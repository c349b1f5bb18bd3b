"""Lab servers for the exposed non-web services: FTP, Telnet, databases, remote desktops, ...

Each server speaks just enough of the real protocol that a banner grabber, a version probe
and `nmap -sV` identify the product and version the manifest names, and then behaves like
the real server does for an unauthenticated stranger: it refuses the login, answers the
harmless commands, and closes on garbage or when the client goes quiet. Nothing is stored
and no real authentication happens; every read is bounded in size and in time.

`handler.py` picks the server from a table keyed by `ServiceKind`; each protocol has its
own module, `common.py` holds what they share and `ber.py`/`bson.py` the wire codecs (kept
apart from the scanner's on purpose: see there). The connection plumbing is
`lab/session.py`, shared with the mail servers. SSH is real SSH, in `lab/ssh.py`.
"""
