"""The TLS check family, one module per job:

- `family`: the jobs (versions, cipher classes, DHE group, certificate, STARTTLS) and their
  observations; `TlsFamily` is what the registry runs.
- `suites`: versions and cipher suites (code points, names, classes of a name).
- `messages`: ClientHellos built by hand and the server's handshake messages parsed by hand.
- `client`: one exchange on one connection, read as size-capped records.
- `keyschedule`: the TLS 1.3 handshake keys that open the encrypted certificate.
- `certs`: the served chain judged: trust, host name, validity, key and signature.
"""
