"""The lab's second tier: real Debian server software configured from the same manifest.

The Python tier (`lab.runtime`) serves every host with Utsyn's own servers: fast, exact,
but written by the same hands as the scanner. The real tier serves what real software can
express with the packages public bodies run (nginx, Apache httpd, Postfix, OpenSSH, BIND),
each process bound only to its hosts' own 127.x addresses, run from a state directory under
the lab's, stopped by PID. What a package cannot express (SSLv3 in Debian's OpenSSL, say)
stays on the Python tier, and `software.assign` says why.

- `daemon.py`: one real server process: start, wait until it listens, stop by PID.
- `software.py`: the `RealSoftware` interface each server implements, and the registry.
- `tier.py`: the assignment of services to software, started and stopped as one.
- `bind.py`: BIND 9 for name servers and open resolvers; `zonefile.py`: the lab's zones and
  DNSSEC keys as BIND's files; `loopback.py`: host addresses on lo for daemons that need them.
- `tree.py`: a daemon whose children go with it (Postfix's master, sshd's listener).
- `postfix.py`, `openssh.py`: the MTA and the SSH server.
- `nginx.py`, `apache.py`: the web sites whose Server header names them; `web.py` what they
  share (which sites, the sites' files, the banner as served), `tlsprofile.py` their TLS
  settings from Mozilla's guidelines.
"""
